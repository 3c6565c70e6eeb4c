package task

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type docBlock struct {
	lang, name, text string
	line             int
}

// fencedBlocks returns the fenced code blocks of a Markdown file whose
// info string is "<lang> <name>".
func fencedBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	var text strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &docBlock{line: n}
			if len(f) == 2 {
				cur.lang, cur.name = f[0], f[1]
			}
			text.Reset()
		case cur != nil && line == "```":
			if cur.name != "" {
				cur.text = text.String()
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			text.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", path, cur.line)
	}
	return blocks
}

// TestDocExamples decodes every named json and yaml block of
// docs/tasks.md: a block named like a golden file or YAML example must be
// that file, and every block must decode as what its name says.
func TestDocExamples(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "tasks.md")
	blocks := fencedBlocks(t, path)
	seen := map[string]bool{}
	for _, b := range blocks {
		t.Run(b.lang+"-"+b.name, func(t *testing.T) {
			var file string
			switch b.lang {
			case "json":
				file = filepath.Join("testdata", b.name+".golden.json")
				decode := decoderFor(b.name)
				if decode == nil {
					t.Fatalf("%s:%d: no decoder for a block named %q", path, b.line, b.name)
				}
				if _, err := decode([]byte(b.text)); err != nil {
					t.Fatalf("%s:%d: %v", path, b.line, err)
				}
			case "yaml":
				file = filepath.Join("testdata", b.name+".yaml")
				if _, err := DecodeSpecYAML([]byte(b.text)); err != nil {
					t.Fatalf("%s:%d: %v", path, b.line, err)
				}
			default:
				t.Fatalf("%s:%d: a named block in %q, which no test reads", path, b.line, b.lang)
			}
			seen[file] = true
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, b.line, err)
			}
			if diff := cmp.Diff(string(want), b.text); diff != "" {
				t.Errorf("%s:%d differs from %s (-file +doc):\n%s", path, b.line, file, diff)
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
