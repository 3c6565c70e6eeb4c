package task

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestDocExamples decodes every named json and yaml block of
// docs/tasks.md: a block named like a golden file or YAML example must be
// that file, and every block must decode as what its name says.
func TestDocExamples(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "tasks.md")
	blocks := testenv.DocBlocks(t, path)
	seen := map[string]bool{}
	for _, b := range blocks {
		if b.Name == "" {
			continue
		}
		t.Run(b.Lang+"-"+b.Name, func(t *testing.T) {
			var file string
			switch b.Lang {
			case "json":
				file = filepath.Join("testdata", b.Name+".golden.json")
				decode := decoderFor(b.Name)
				if decode == nil {
					t.Fatalf("%s:%d: no decoder for a block named %q", path, b.Line, b.Name)
				}
				if _, err := decode([]byte(b.Text)); err != nil {
					t.Fatalf("%s:%d: %v", path, b.Line, err)
				}
			case "yaml":
				file = filepath.Join("testdata", b.Name+".yaml")
				if _, err := DecodeSpecYAML([]byte(b.Text)); err != nil {
					t.Fatalf("%s:%d: %v", path, b.Line, err)
				}
			default:
				t.Fatalf("%s:%d: a named block in %q, which no test reads", path, b.Line, b.Lang)
			}
			seen[file] = true
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, b.Line, err)
			}
			if diff := cmp.Diff(string(want), b.Text); diff != "" {
				t.Errorf("%s:%d differs from %s (-file +doc):\n%s", path, b.Line, file, diff)
			}
		})
	}
	// Every golden file and YAML example is shown.
	for _, pattern := range []string{"*.golden.json", "*.yaml"} {
		files, _ := filepath.Glob(filepath.Join("testdata", pattern))
		for _, f := range files {
			if !seen[f] {
				t.Errorf("%s is not shown in %s", f, path)
			}
		}
	}
}
