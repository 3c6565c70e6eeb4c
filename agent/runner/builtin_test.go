package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
)

// TestBuiltinResumeGivesTheSameOutput interrupts each builtin at every
// checkpoint in turn, resumes it from that checkpoint, and checks the
// output is the straight-through one.
func TestBuiltinResumeGivesTheSameOutput(t *testing.T) {
	for _, b := range []task.Builtin{
		{Name: task.BuiltinCPU, Units: 12, UnitMS: 1, CheckpointEvery: 3},
		{Name: task.BuiltinSleep, Units: 12, UnitMS: 1, CheckpointEvery: 3},
	} {
		want := expected(b)
		var saves []builtinState
		s, err := runBuiltin(context.Background(), b, builtinStart(b.Name), b.CheckpointEvery, func(s builtinState) {
			saves = append(saves, s)
		}, nil)
		if err != nil || s.output() != want || s.done != b.Units {
			t.Fatalf("%s straight through: %v, output %s at %d, want %s", b.Name, err, s.output(), s.done, want)
		}
		if got := len(saves); got != 3 { // at 3, 6 and 9; not at 12, the end
			t.Fatalf("%s: %d checkpoints, want 3", b.Name, got)
		}
		for _, cp := range saves {
			from, err := decodeBuiltinState(cp.encode(), b.Units)
			if err != nil {
				t.Fatal(err)
			}
			s, err := runBuiltin(context.Background(), b, from, b.CheckpointEvery, func(builtinState) {}, nil)
			if err != nil || s.output() != want {
				t.Errorf("%s resumed at %d: %v, output %s, want %s", b.Name, cp.done, err, s.output(), want)
			}
		}
	}
}

func TestBuiltinsDiffer(t *testing.T) {
	cpu := expected(task.Builtin{Name: task.BuiltinCPU, Units: 2, UnitMS: 1})
	sleep := expected(task.Builtin{Name: task.BuiltinSleep, Units: 2, UnitMS: 1})
	longer := expected(task.Builtin{Name: task.BuiltinCPU, Units: 3, UnitMS: 1})
	if cpu == sleep || cpu == longer {
		t.Fatalf("outputs do not depend on the parameters: cpu %s, sleep %s, cpu×3 %s", cpu, sleep, longer)
	}
}

func TestBuiltinStopsMidUnitAtTheLastWholeUnit(t *testing.T) {
	b := task.Builtin{Name: task.BuiltinCPU, Units: 1000, UnitMS: 50}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	s, err := runBuiltin(ctx, b, builtinStart(b.Name), 1, func(s builtinState) {
		if s.done == 2 {
			cancel(stop)
		}
	}, nil)
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the cause", err)
	}
	want := builtinStart(b.Name)
	for range 2 {
		cpuUnit(&want.digest, b.UnitMS*refItersPerMS, nil)
	}
	want.done = 2
	if diff := cmp.Diff(want.encode(), s.encode()); diff != "" {
		t.Fatalf("state after a stop in the third unit (-want +got):\n%s", diff)
	}
}

func TestDecodeBuiltinStateRefusesGarbage(t *testing.T) {
	good := builtinState{done: 5}.encode()
	if _, err := decodeBuiltinState(good, 5); err != nil {
		t.Fatalf("a state at the end: %v", err)
	}
	for name, b := range map[string][]byte{
		"short":        good[:39],
		"long":         append(good, 0),
		"past the end": builtinState{done: 6}.encode(),
		"negative":     builtinState{done: -1}.encode(),
	} {
		if _, err := decodeBuiltinState(b, 5); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkCPUUnit measures one cpu unit of the default 10 ms (on a
// reference core): ms/unit is what a unit costs on this machine.
func BenchmarkCPUUnit(b *testing.B) {
	s := builtinStart(task.BuiltinCPU)
	never := make(chan struct{})
	b.ReportAllocs()
	for b.Loop() {
		cpuUnit(&s.digest, task.DefaultUnitMS*refItersPerMS, never)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/unit")
}
