package testenv

import (
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	n := 0
	if !Within(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("a condition that came to hold was not seen")
	}
	if n != 3 {
		t.Fatalf("asked %d times after the condition held at the 3rd", n)
	}
	start := time.Now()
	if Within(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never held was reported held")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("gave up after %v, before the 20ms allowed", waited)
	}
}
