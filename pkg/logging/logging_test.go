package logging

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	var b strings.Builder
	log, err := New(&b, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "node", "n1")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `"node":"n1"`) {
		t.Fatalf("log output %q", got)
	}
	if _, err := New(&b, "loud", "text"); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := New(&b, "info", "xml"); err == nil {
		t.Fatal("bad format accepted")
	}
}
