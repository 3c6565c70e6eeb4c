package cliconf

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFindFlag(t *testing.T) {
	cases := []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--config", "a.yaml"}, "a.yaml", true},
		{[]string{"-config=b.yaml", "--x"}, "b.yaml", true},
		{[]string{"--x", "config"}, "", false},
		{[]string{"--", "--config", "c"}, "", false},
		{[]string{"--config"}, "", false},
	}
	for _, c := range cases {
		got, ok := FindFlag(c.args, "config")
		if got != c.want || ok != c.ok {
			t.Errorf("FindFlag(%q) = %q, %v; want %q, %v", c.args, got, ok, c.want, c.ok)
		}
	}
}

func TestReadYAMLRefusesUnknownKeys(t *testing.T) {
	var dst struct {
		A string `yaml:"a"`
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("a: x\nb: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadYAML(path, &dst); err == nil || !strings.Contains(err.Error(), "b") {
		t.Fatalf("err = %v, want one naming the unknown key", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadYAML(path, &dst); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestEnvAndList(t *testing.T) {
	var s string
	var l []string
	var d time.Duration
	var b bool
	env := map[string]string{"S": "x", "L": "a,b", "D": "3s", "B": "true"}
	err := Env{Strings: map[string]*string{"S": &s}, Lists: map[string]*[]string{"L": &l},
		Durations: map[string]*time.Duration{"D": &d}, Bools: map[string]*bool{"B": &b}}.Apply(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s != "x" || !cmp.Equal(l, []string{"a", "b"}) || d != 3*time.Second || !b {
		t.Fatalf("got %q %q %v %v", s, l, d, b)
	}
	if err := (Env{Durations: map[string]*time.Duration{"D": &d}}).Apply(func(string) string { return "soon" }); err == nil {
		t.Fatal("bad duration accepted")
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&List{Dst: &l}, "x", "")
	if err := fs.Parse([]string{"-x", "c", "-x", "d,e"}); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(l, []string{"c", "d", "e"}) {
		t.Fatalf("list flag: %q", l)
	}
}

func TestReadSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSecret(path); err != nil || got != "s3cret" {
		t.Fatalf("ReadSecret = %q, %v", got, err)
	}
	if _, err := ReadSecret(path + ".missing"); err == nil {
		t.Fatal("a missing file gave no error")
	}
}

func TestReadYAMLExplains(t *testing.T) {
	type tasks struct {
		KillGrace time.Duration `yaml:"kill_grace"`
		Slots     int           `yaml:"slots"`
	}
	var dst struct {
		SampleInterval time.Duration `yaml:"sample_interval"`
		Heartbeat      time.Duration `yaml:"heartbeat"`
		Tasks          tasks         `yaml:"tasks"`
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	src := "sample_interval: 5\nheartbaet: 60s\ntasks:\n  kill_grace: 5s\n  slotz: 2\n  slots: many\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ReadYAML(path, &dst)
	if err == nil {
		t.Fatal("ReadYAML accepted a file with four mistakes")
	}
	for _, want := range []string{
		`line 1: sample_interval: 5 is not a duration: give a unit, e.g. 5s`,
		`line 2: unknown setting "heartbaet" (did you mean "heartbeat"?)`,
		`line 5: unknown setting "tasks.slotz" (did you mean "slots"?)`,
		`line 6: tasks.slots: many is not a valid whole number`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "time.Duration") || strings.Contains(err.Error(), "!!int") {
		t.Errorf("error still speaks the decoder's language:\n%v", err)
	}
}

func TestReadYAMLListsKnownKeysWhenNothingIsClose(t *testing.T) {
	var dst struct {
		Region string `yaml:"region"`
		NodeID string `yaml:"node_id"`
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("completely_else: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ReadYAML(path, &dst)
	if err == nil || !strings.Contains(err.Error(), `unknown setting "completely_else" (known here: region, node_id)`) {
		t.Fatalf("err = %v", err)
	}
}
