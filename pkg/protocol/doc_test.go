package protocol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/testenv"
)

// docExamples returns the json blocks of a Markdown file, and fails on
// one without the name of its golden file (an example no test reads).
func docExamples(t *testing.T, path string) []testenv.DocBlock {
	t.Helper()
	var out []testenv.DocBlock
	for _, b := range testenv.DocBlocks(t, path) {
		if b.Lang != "json" {
			continue
		}
		if b.Name == "" {
			t.Errorf("%s:%d: a json block needs the name of its golden file", path, b.Line)
			continue
		}
		out = append(out, b)
	}
	return out
}

// TestDocExamples decodes every json example of docs/protocol.md with the
// decoder of its kind and compares it with the golden file it is named
// after, decoded the same way: the document shows what the code sends
// (in any layout), and every golden file is shown.
func TestDocExamples(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "protocol.md")
	seen := map[string]bool{}
	for _, ex := range docExamples(t, path) {
		t.Run(ex.Name, func(t *testing.T) {
			decode, ok := goldenDecoders[ex.Name]
			if !ok {
				t.Fatalf("%s:%d: no golden file %q", path, ex.Line, ex.Name)
			}
			seen[ex.Name] = true
			got, err := decode([]byte(ex.Text))
			if err != nil {
				t.Fatalf("%s:%d: %v", path, ex.Line, err)
			}
			golden, err := os.ReadFile(filepath.Join("testdata", ex.Name+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := decode(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s:%d differs from testdata/%s.golden.json (-golden +doc):\n%s", path, ex.Line, ex.Name, diff)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".golden.json"); !seen[name] {
			t.Errorf("%s is not shown in %s", f, path)
		}
	}
}

// TestDocTables checks that no blank line splits a table of
// docs/protocol.md: Markdown ends a table there, and the rows after it
// render as text.
func TestDocTables(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "protocol.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 1; i+1 < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" && strings.HasPrefix(lines[i-1], "|") && strings.HasPrefix(lines[i+1], "|") {
			t.Errorf("%s:%d: a blank line splits a table", path, i+1)
		}
	}
}
