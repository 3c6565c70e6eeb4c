package powerloss

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/pkg/task"
)

// The task run's task, per cut it is spread over: 60 cpu units of 10 ms
// (on a reference core), a checkpoint every 5. Under TCG on the 2-core
// machine of docs/durability.md a unit takes ~42 ms when the host is quiet
// (0.77 ms on the host itself), so checkpoints come ~210 ms apart and a
// write cut lets the task run ~3 s (TaskConfig: 8 cuts aimed at, 5 of
// them write cuts, wait for 480/6 - 3×5 = 65 units each).
const (
	taskUnitsPerCut = 60
	taskUnitMS      = 10
	taskEvery       = 5
)

// TestTaskPowerCuts cuts the power of a VM whose agent runs a
// checkpointable task (agent/runner's TestPowerLossTaskWorkload), until the
// task is done: at least 8 cuts aimed at (-task-cuts,
// POWERLOSS_TASK_CUTS; `make powerloss` aims at 50). Every boot must resume
// the task at or past its last checkpoint printed, and the task must end
// once, with the output computed here without interruption; the store's
// invariants hold for its events.
func TestTaskPowerCuts(t *testing.T) {
	if w := *workloadFlag + os.Getenv("POWERLOSS_WORKLOAD"); w == "task" {
		t.Skip("POWERLOSS_WORKLOAD=task: TestPowerCuts makes the task run")
	}
	e := needVM(t)
	aim := int(intSetting(t, int64(*taskCutsFlag), "POWERLOSS_TASK_CUTS", soakOr(8, 50)))
	seed := intSetting(t, *seedFlag, "POWERLOSS_SEED", time.Now().UnixNano())
	runTaskCuts(t, e, aim, seed, volatileSetting(t))
}

// runTaskCuts makes a task run spread over aim cuts.
func runTaskCuts(t *testing.T, e *vmEnv, aim int, seed int64, volatile bool) {
	tc := &TaskConfig{Units: int64(aim) * taskUnitsPerCut, UnitMS: taskUnitMS, Every: taskEvery, Aim: aim, MinCuts: min(aim, 10)}
	began := time.Now()
	out, err := runner.BuiltinOutput(task.Builtin{Name: task.BuiltinCPU, Units: tc.Units, UnitMS: tc.UnitMS, CheckpointEvery: tc.Every})
	if err != nil {
		t.Fatal(err)
	}
	tc.Output = out
	t.Logf("the task's output, computed here straight through in %v: %s", time.Since(began).Round(time.Millisecond), out)
	label := "task"
	if volatile {
		label += "-volatile"
	}
	dir := runDir(t, e, label, seed)
	w := buildWorkload(t, e, dir, "task", fmt.Sprintf("-powerloss.units=%d", tc.Units),
		fmt.Sprintf("-powerloss.unit-ms=%d", tc.UnitMS), fmt.Sprintf("-powerloss.every=%d", tc.Every))
	rep := runCuts(t, e, w, dir, Config{Seed: seed, VolatileCache: volatile, Task: tc})
	if !rep.OK() {
		t.Errorf("invariants broken (replay with -seed=%d -task-cuts=%d); disk image and console log kept in %s", seed, aim, dir)
		return
	}
	os.Remove(filepath.Join(dir, "disk.img"))
	os.Remove(filepath.Join(dir, "initrd.cpio"))
	os.Remove(filepath.Join(dir, "workload"))
}
