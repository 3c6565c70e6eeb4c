package kv

import (
	"fmt"
	"strings"
	"testing"
)

// TestGuardPanicKeepsItsFirstStack: a panic under Guard on a DB that is
// not wedged is raised again after wedgeReportWait, and what it says still
// names the panic and where it was first raised, not only Guard.
func TestGuardPanicKeepsItsFirstStack(t *testing.T) {
	t.Parallel()
	db, _ := mustOpen(t, t.TempDir(), testProfile())
	var got any
	func() {
		defer func() { got = recover() }()
		_ = db.Guard(func() error { panicsInsideGuard(); return nil })
	}()
	msg := fmt.Sprint(got)
	if !strings.Contains(msg, "a bug, not a wedge") {
		t.Fatalf("the panic raised again does not carry its value: %q", msg)
	}
	if !strings.Contains(msg, "panicsInsideGuard") {
		t.Fatalf("the panic raised again lost where it was first raised:\n%s", msg)
	}
}

func panicsInsideGuard() { panic("a bug, not a wedge") }
