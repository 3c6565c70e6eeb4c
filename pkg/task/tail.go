package task

import (
	"strings"
	"unicode/utf8"
)

// Tail returns the end of a task's output as Result.Stdout, Stderr or
// Output carry it: at most MaxTail bytes of valid UTF-8, cut at a rune
// boundary. Invalid bytes become U+FFFD before the cut, so the string
// keeps its length on the wire (encoding/json would replace them, and
// could push a tail cut by bytes past MaxTail).
func Tail(out []byte) string {
	if len(out) > MaxTail {
		out = out[len(out)-MaxTail:]
		// Start at a rune, not in the middle of the one cut.
		for i := 0; i < utf8.UTFMax-1 && len(out) > 0 && !utf8.RuneStart(out[0]); i++ {
			out = out[1:]
		}
	}
	s := strings.ToValidUTF8(string(out), "\uFFFD")
	for len(s) > MaxTail {
		_, n := utf8.DecodeRuneInString(s)
		s = s[n:]
	}
	return s
}
