package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// TestPrintQuarantined: the nodes in quarantine are listed under the
// fleet table with when their quarantine ends; an empty list, or none,
// prints nothing.
func TestPrintQuarantined(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	list := func(l task.QuarantineList) <-chan []byte {
		ch := make(chan []byte, 1)
		b, _ := json.Marshal(l)
		ch <- b
		return ch
	}
	var b strings.Builder
	if err := printQuarantined(&b, list(task.QuarantineList{V: 1, Nodes: []task.Quarantined{{Node: "liar", Until: now.Add(10 * time.Minute)}}}), now); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "in quarantine") || !strings.Contains(got, "liar") ||
		!strings.Contains(got, "2026-11-27T10:10:00Z") || !strings.Contains(got, "in 10m0s") {
		t.Fatalf("output:\n%s", got)
	}
	b.Reset()
	if err := printQuarantined(&b, list(task.QuarantineList{V: 1, Nodes: []task.Quarantined{}}), now); err != nil || b.Len() != 0 {
		t.Fatalf("an empty list printed %q, %v", b.String(), err)
	}
	if err := printQuarantined(&b, make(chan []byte), now); err != nil || b.Len() != 0 {
		t.Fatalf("no list printed %q, %v", b.String(), err)
	}
}
