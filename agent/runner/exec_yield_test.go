//go:build unix

package runner

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
)

// TestExecYieldTakesTheCheckpointWrittenOnSIGTERM: a yield sends an exec
// task SIGTERM, as a cancel does; a task that saves a checkpoint on it
// before it exits has that checkpoint journaled and sent, then the
// attempt is reported yielded at its progress.
func TestExecYieldTakesTheCheckpointWrittenOnSIGTERM(t *testing.T) {
	sh := script(t, `
i=0
save() {
  echo "progress $i 1000" > "$TETHER_CHECKPOINT_DIR/progress"
  echo "$i" > "$TETHER_CHECKPOINT_DIR/checkpoint.tmp"
  mv "$TETHER_CHECKPOINT_DIR/checkpoint.tmp" "$TETHER_CHECKPOINT_DIR/checkpoint"
  exit 0
}
trap save TERM
while [ "$i" -lt 1000 ]; do
  i=$((i + 1))
  echo "progress $i 1000" > "$TETHER_PROGRESS_FILE"
  sleep 0.01
done
`) // checkpoints only when told to stop
	f := newFixture(t, allowing(sh))
	spec := execSpec(sh, nil)
	spec.Checkpointable = true
	f.submit(assignment("ck", 1, spec))
	f.waitState("ck", 1, task.EventRunning)
	f.waitFor("ck", func(task.Event) bool {
		n, _ := readProgress(f.r.attemptDir("ck", 1) + "/checkpoint/progress")
		return n >= 5
	})
	f.submit(yieldAssignment("ck", 1))
	y := f.waitState("ck", 1, task.EventYielded)
	evs := of(f.events(), "ck")
	if got := states(evs); !cmp.Equal(got, []string{"accepted", "running", "checkpoint", "yielded"}) {
		t.Fatalf("events %v", got)
	}
	cp := evs[2]
	if cp.Progress < 5 || string(cp.Checkpoint) != strconv.FormatInt(cp.Progress, 10)+"\n" || y.Progress != cp.Progress {
		t.Fatalf("checkpoint %q at %d, yielded at %d", cp.Checkpoint, cp.Progress, y.Progress)
	}
}
