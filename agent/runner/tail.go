package runner

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// tailWriter keeps the last max bytes written to it: an exec task's
// stdout or stderr, bounded however much the task writes.
type tailWriter struct {
	max int

	mu  sync.Mutex // guards buf
	buf []byte     // at most 2×max: trimmed to max when full
}

func (w *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.max == 0 {
		return n, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) >= w.max {
		w.buf = append(w.buf[:0], p[len(p)-w.max:]...)
		return n, nil
	}
	if len(w.buf)+len(p) > 2*w.max {
		keep := w.max - len(p)
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-keep:]...)
	}
	w.buf = append(w.buf, p...)
	return n, nil
}

// String returns the tail as a result carries it: at most max bytes of
// valid UTF-8, starting at a rune.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return tailString(w.buf, w.max)
}

// tailString is the end of b, at most max bytes of valid UTF-8. Invalid
// bytes become U+FFFD before the cut, so encoding/json does not change the
// string's length (as task.Tail does, with a limit of our own).
func tailString(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	for len(s) > max {
		_, n := utf8.DecodeRuneInString(s)
		s = s[n:]
	}
	return s
}
