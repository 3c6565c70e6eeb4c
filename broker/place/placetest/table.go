// Package placetest reads the shared placement tables in broker/place/testdata: states of a
// fleet and a task, with the decision the live scheduler (broker/place/live, through the task
// engine) and the simulator (broker/sim) must both make. One schema and one reader serve both
// sides, so a case means the same state to each. For tests only.
package placetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Case is one state and its expected decision.
type Case struct {
	Name  string
	Nodes []struct {
		ID    string
		Cores int
		Speed float64
		MemMB int64 `json:"mem_mb"`
	}
	Running []struct {
		ID             string
		Node           string
		Work           float64
		Checkpointable bool
		DeadlineS      float64 `json:"deadline_s"`
		Started        bool
	}
	AfterS float64 `json:"after_s"`
	Task   struct {
		Work      float64
		DeadlineS float64 `json:"deadline_s"`
		MemMB     int64   `json:"mem_mb"`
		Tier      string
	}
	// NodeQueue is placement.node_queue for the case (the holds table).
	NodeQueue int `json:"node_queue"`
	// Node is where the task is placed ("" pending), Victim the attempt taken back ("" none).
	Node   string
	Victim string
}

// Load returns the cases of the table file (e.g. "tether_holds.json") in broker/place/testdata.
func Load(t testing.TB, file string) []Case {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("placetest: cannot locate broker/place/testdata")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []Case }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("placetest: %s: %v", file, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("placetest: %s holds no cases", file)
	}
	return f.Cases
}
