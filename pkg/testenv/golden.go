package testenv

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Golden compares got with the golden file at path and fails the test on
// a difference (surrounding white space aside); with update it first
// writes got there, with a final newline. It returns the file's content.
func Golden(t testing.TB, path string, got []byte, update bool) []byte {
	t.Helper()
	if update {
		if err := os.WriteFile(path, append(bytes.TrimSpace(got), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), strings.TrimSpace(string(got))); diff != "" {
		t.Fatalf("%s: encoding changed (-golden +got), rerun with -update if intended:\n%s", path, diff)
	}
	return want
}

// DocBlock is a fenced code block of a Markdown file: its info string's
// first word (Lang) and second (Name, the file or example it shows), its
// text, and the line its fence opens on.
type DocBlock struct {
	Lang, Name, Text string
	Line             int
}

// DocBlocks returns every fenced code block of the Markdown file at path,
// and fails the test on a block that is never closed.
func DocBlocks(t testing.TB, path string) []DocBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []DocBlock
		cur  *DocBlock
		text strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &DocBlock{Line: n}
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			if len(f) > 0 {
				cur.Lang = f[0]
			}
			if len(f) > 1 {
				cur.Name = f[1]
			}
			text.Reset()
		case cur != nil && line == "```":
			cur.Text = text.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			text.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", path, cur.Line)
	}
	return out
}
