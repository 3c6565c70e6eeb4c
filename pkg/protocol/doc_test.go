package protocol

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docExample is a fenced block of docs/protocol.md whose info string is
// "json <name>": the example of testdata/<name>.golden.json.
type docExample struct {
	name, text string
	line       int
}

// docExamples returns the named json blocks of a Markdown file, and fails
// on a json block without a name (an example no test reads).
func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []docExample
		cur  *docExample
		text strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &docExample{line: n}
			if len(f) > 0 && f[0] == "json" {
				if len(f) != 2 {
					t.Errorf("%s:%d: a json block needs the name of its golden file", path, n)
				} else {
					cur.name = f[1]
				}
			}
			text.Reset()
		case cur != nil && line == "```":
			if cur.name != "" {
				cur.text = text.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			text.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", path, cur.line)
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
		t.Run(ex.name, func(t *testing.T) {
			decode, ok := goldenDecoders[ex.name]
			if !ok {
				t.Fatalf("%s:%d: no golden file %q", path, ex.line, ex.name)
			}
			seen[ex.name] = true
			got, err := decode([]byte(ex.text))
			if err != nil {
				t.Fatalf("%s:%d: %v", path, ex.line, err)
			}
			golden, err := os.ReadFile(filepath.Join("testdata", ex.name+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := decode(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s:%d differs from testdata/%s.golden.json (-golden +doc):\n%s", path, ex.line, ex.name, diff)
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
