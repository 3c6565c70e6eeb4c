package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
)

// TestInputFlag: NAME=PATH, a data name, each name once.
func TestInputFlag(t *testing.T) {
	t.Parallel()
	var f inputFlag
	if err := f.Set("frame=/tmp/a.jpg"); err != nil {
		t.Fatal(err)
	}
	for v, says := range map[string]string{
		"frame=/tmp/b.jpg": "given twice",
		"Frame=/x":         "not an input name",
		"nopath=":          "want NAME=PATH",
		"noequals":         "want NAME=PATH",
	} {
		if err := f.Set(v); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("--input %s: %v, want it to say %q", v, err, says)
		}
	}
}

// TestStageInputsCompletesTheSpec: each file is hashed into the spec's
// inputs as a blob the scheduler holds; a name the spec has already, a
// missing file or a directory is an error.
func TestStageInputsCompletesTheSpec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "frame.bin")
	if err := os.WriteFile(p, []byte("pixels"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := task.Spec{ID: "s", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256}}
	tr, err := stageInputs(&spec, inputFlag{names: []string{"frame"}, paths: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	if got := spec.Inputs["frame"]; got.Blob != blob.Of([]byte("pixels")) || got.From != "" {
		t.Fatalf("input %+v", got)
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("the completed spec: %v", err)
	}
	for name, in := range map[string]inputFlag{
		"already in the spec": {names: []string{"frame"}, paths: []string{p}},
		"no such file":        {names: []string{"other"}, paths: []string{filepath.Join(dir, "absent")}},
		"a directory":         {names: []string{"other"}, paths: []string{dir}},
	} {
		if tr, err := stageInputs(&spec, in); err == nil {
			tr.close()
			t.Errorf("%s: staged", name)
		}
	}
}
