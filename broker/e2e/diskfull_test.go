package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestDiskFullAgent runs the real agent with its data directory on a
// 24 MiB tmpfs (its store keeps a 16 MiB reserve) and fills the tmpfs
// with a file while a task runs there:
//
//   - the agent never dies (no SIGBUS inside Badger, no exit), and says so
//     over its live connection: the fleet row shows disk_full, and the node
//     stays online past its heartbeat and grace without metrics;
//   - the scheduler places no new task on it, and logs why;
//   - a restart while the disk stays full starts (without opening the
//     store) and reports disk_full;
//   - once the file is removed the agent opens its store by itself, the
//     flag clears, the task that ran during the fill and the one that
//     waited both succeed once, and the node's stream has no gap: no
//     record the store took was lost.
func TestDiskFullAgent(t *testing.T) {
	t.Parallel()
	const node = "pi-full"
	mnt := testenv.MountTmpfs(t, "24m")
	data := filepath.Join(mnt, "data")
	s := newTaskSite(t)
	s.startScheduler("--offline-grace", "2s", "--node-lost-grace", "2s")
	op := newOperator(t, s.site)
	agentArgs := []string{"--data-dir", data, "--heartbeat", "2s", "--task-slots", "2"}
	agent := s.startAgent(node, agentArgs...)
	row := func(f map[string]protocol.FleetNode) protocol.FleetNode { return f[node] }
	s.waitFleet(30*time.Second, "agent reporting", func(f map[string]protocol.FleetNode) bool {
		return row(f).Online && row(f).Seq > 0 && !row(f).DiskFull
	})

	// A task runs there while the disk fills: its end waits for room.
	during := task.Spec{ID: "during-fill", Kind: task.KindBuiltin, Checkpointable: true,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 40, UnitMS: 100, CheckpointEvery: 10}}
	if r := op.submit(during); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	op.waitTasks(30*time.Second, "task running on the node", func(m map[string]task.Status) bool {
		return m[during.ID].State == task.StateRunning && m[during.ID].Node == node
	})
	filler := filepath.Join(mnt, "filler")
	testenv.FillDisk(t, filler)
	s.waitFleet(30*time.Second, "disk_full in the fleet row", func(f map[string]protocol.FleetNode) bool {
		return row(f).Online && row(f).DiskFull
	})

	// No new task is placed on the node, and the scheduler says why.
	waiting := task.Spec{ID: "while-full", Kind: task.KindBuiltin,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 5, UnitMS: 20}}
	if r := op.submit(waiting); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	const why = "node's disk is full: no new task is placed there"
	if !strings.Contains(s.scheduler.out.String(), why) {
		t.Errorf("the scheduler's log does not say %q", why)
	}

	// The node stays online on births alone, past heartbeat and grace.
	full := time.Now()
	for time.Since(full) < 6*time.Second {
		f, err := s.nodes()
		if err == nil {
			for _, n := range f.Nodes {
				if n.Node == node && (!n.Online || !n.DiskFull) {
					t.Fatalf("the node went %+v while its disk is full", n)
				}
			}
		}
		if st := op.snapshot()[waiting.ID]; st.State != task.StatePending {
			t.Fatalf("a task was placed on a node whose disk is full: %+v", st)
		}
		time.Sleep(200 * time.Millisecond) // kept: looks (each runs the CLI) through a window that must stay so
	}

	// A restart on the full disk: a clean stop, and a start.
	agent.signal(syscall.SIGTERM)
	if err := agent.wait(t, 30*time.Second); err != nil {
		t.Fatalf("agent on a full disk did not stop cleanly: %v\n%s", err, agent.out.String())
	}
	before := agent.out.String()
	agent = s.startAgent(node, agentArgs...)
	if !testenv.Within(30*time.Second, func() bool {
		return strings.Contains(agent.out.String(), "the store is not opened until space is freed")
	}) {
		t.Fatalf("the restarted agent never said it waits for space:\n%s", agent.out.String())
	}
	s.waitFleet(30*time.Second, "the restarted agent online with disk_full", func(f map[string]protocol.FleetNode) bool {
		return row(f).Online && row(f).DiskFull
	})
	select {
	case <-agent.done:
		t.Fatalf("the agent exited on a full disk: %v\n%s", agent.err, agent.out.String())
	default:
	}

	// Space comes back: the agent recovers by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.waitFleet(30*time.Second, "disk_full cleared", func(f map[string]protocol.FleetNode) bool {
		return row(f).Online && !row(f).DiskFull
	})
	end := op.waitTasks(60*time.Second, "both tasks succeeded", func(m map[string]task.Status) bool {
		return task.Terminal(m[during.ID].State) && task.Terminal(m[waiting.ID].State)
	})
	for _, id := range []string{during.ID, waiting.ID} {
		st := end[id]
		if st.State != task.StateSucceeded || st.Node != node {
			t.Errorf("%s ended %s on %q: %s (attempts %+v)", id, st.State, st.Node, st.Error, st.Attempts)
		}
		if n := appliedSuccesses(st); n != 1 {
			t.Errorf("%s has %d successful attempts, want 1: %+v", id, n, st.Attempts)
		}
	}
	seq := row(s.nodesByID(t)).Seq
	s.waitFleet(30*time.Second, "reports flowing again", func(f map[string]protocol.FleetNode) bool {
		return row(f).Seq > seq+2
	})
	if r := row(s.nodesByID(t)); r.Gaps != 0 || r.Missing != 0 {
		t.Errorf("the node's stream has %d gaps and %d missing: records the store took were lost", r.Gaps, r.Missing)
	}
	for _, out := range []string{before, agent.out.String()} {
		for _, crash := range []string{"SIGBUS", "fatal error", "panic:"} {
			if strings.Contains(out, crash) {
				t.Fatalf("the agent crashed (%s):\n%s", crash, out)
			}
		}
	}
}

// nodesByID runs `tether-broker nodes` once and returns its rows by node.
func (s *site) nodesByID(t *testing.T) map[string]protocol.FleetNode {
	t.Helper()
	f, err := s.nodes()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]protocol.FleetNode{}
	for _, n := range f.Nodes {
		out[n.Node] = n
	}
	return out
}
