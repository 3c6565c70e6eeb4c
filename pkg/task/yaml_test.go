package task

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

// The YAML examples say the same as the JSON golden files of their name.
func TestYAMLExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no YAML examples in testdata")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeSpecYAML(b)
			if err != nil {
				t.Fatalf("DecodeSpecYAML: %v", err)
			}
			want, ok := examples[name]
			if !ok {
				t.Fatalf("no example %q to compare with", name)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("(-JSON example +YAML):\n%s", diff)
			}
		})
	}
}

func TestSpecYAMLErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
		mention  string
	}{
		{"empty", "", protocol.ErrSyntax, "no document"},
		{"only a comment", "# nothing\n", protocol.ErrSyntax, "no document"},
		{"unknown field", "kind: exec\nexec: {command: /bin/true}\nretires: 3\n", protocol.ErrSyntax, "line 3: field retires not found"},
		{"unknown nested field", "kind: exec\nexec: {command: /bin/true, argv: [x]}\n", protocol.ErrSyntax, "field argv not found"},
		{"two documents", "kind: exec\nexec: {command: /bin/true}\n---\nkind: exec\n", protocol.ErrSyntax, "more than one document"},
		{"broken second document", "kind: exec\nexec: {command: /bin/true}\n---\n[\n", protocol.ErrSyntax, "malformed YAML"},
		{"tab indentation", "kind: exec\nexec:\n\tcommand: /bin/true\n", protocol.ErrSyntax, "malformed YAML"},
		{"duration without unit", "kind: exec\nexec: {command: /bin/true}\ntimeout: 60\n", protocol.ErrSyntax, `"90s"`},
		{"units as text", "kind: builtin\nbuiltin: {name: cpu, units: ten}\n", protocol.ErrSyntax, "line 2: cannot unmarshal !!str `ten` into int64"},
		{"a list, not a mapping", "- kind: exec\n", protocol.ErrSyntax, "malformed YAML"},
		{"invalid", "kind: builtin\nbuiltin: {name: cpu}\n", protocol.ErrInvalid, "spec.builtin.units: is 0"},
		{"invalid everywhere", "kind: exec\nexec: {command: resize}\nretries: 500\n", protocol.ErrInvalid,
			"spec.exec.command: \"resize\" is not an absolute path to a command\nspec.retries: is 500: want 0 to 100"},
		{"binary that is not UTF-8", "kind: exec\nexec: {command: /bin/true, args: [!!binary /w==]}\n", protocol.ErrInvalid,
			"spec.exec.args[0]: is not valid UTF-8"},
		{"oversized", "kind: exec\n#" + strings.Repeat("x", MaxMessage), protocol.ErrTooLarge, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeSpecYAML([]byte(c.in))
			if !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("%q does not mention %q", err, c.mention)
			}
		})
	}
}

// YAML reads numbers where the JSON form has strings; env values and
// labels are strings either way.
func TestSpecYAMLScalars(t *testing.T) {
	s, err := DecodeSpecYAML([]byte("kind: exec\nexec:\n  command: /bin/true\n  args: [640, true]\n  env: {N: 2}\n" +
		"constraints: {labels: {floor: 3}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{Kind: KindExec, Exec: &Exec{Command: "/bin/true", Args: []string{"640", "true"}, Env: map[string]string{"N": "2"}},
		Constraints: Constraints{Labels: map[string]string{"floor": "3"}}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
