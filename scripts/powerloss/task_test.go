package powerloss

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// readConsole reads a console log as Config.Console writes it ("=== boot"
// headers, then "<boot> <seconds> <line>") into each boot's timed lines.
func readConsole(t *testing.T, name string) map[int][]ConsoleLine {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boots := map[int][]ConsoleLine{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.SplitN(strings.TrimLeft(sc.Text(), " "), " ", 2)
		if len(fs) < 2 || fs[0] == "===" {
			continue
		}
		n, err := strconv.Atoi(fs[0])
		if err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		secs, text, _ := strings.Cut(strings.TrimLeft(fs[1], " "), " ")
		s, err := strconv.ParseFloat(secs, 64)
		if err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		boots[n] = append(boots[n], ConsoleLine{At: time.Duration(s * float64(time.Second)), Text: text + "\n"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return boots
}

func protocolLines(t *testing.T, cl []ConsoleLine) []Line {
	t.Helper()
	var out []Line
	for _, c := range cl {
		l, ok, err := ParseLine(c.Text)
		if err != nil {
			t.Fatalf("%q: %v", c.Text, err)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

const fixtureOutput = "dda7a87020757c5204c5fd458eb032694271b9b04d37320f9da74883903d91cc"

// testdata/task-console.txt is boots 0 and 14 to 16 of a task run in the
// VM (3000 units, a checkpoint every 20): the first boot submits the task
// and is cut at 280, boot 14 is cut while mounting, boot 15 resumes at
// 2860 and ends the task, boot 16 only checks.
func TestTaskLedgerFixture(t *testing.T) {
	boots := readConsole(t, "testdata/task-console.txt")
	l := TaskLedger{Want: fixtureOutput}
	var led Ledger
	for _, n := range []int{0, 14, 15, 16} {
		lines := protocolLines(t, boots[n])
		l.Apply(n, lines)
		led.Apply(n, lines)
	}
	if len(l.Problems) != 0 || len(led.Problems) != 0 {
		t.Fatalf("problems in a clean run: task %q, store %q", l.Problems, led.Problems)
	}
	want := TaskStats{Submits: 1, Resumes: 2, Checkpoints: 14 + 6, Dones: 1, Finished: true, FinishBoot: 15,
		Output: fixtureOutput, Resumed: 2860}
	if diff := cmp.Diff(want, l.TaskStats, cmpopts.IgnoreUnexported(TaskStats{})); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if l.Task != "pl-cpu" {
		t.Errorf("task %q", l.Task)
	}
}

func taskLine(ev TaskEvent, done int64, text string) Line {
	l := Line{Kind: KindTask, Task: "t1", Event: ev, Done: done, Total: 100, Text: text}
	if ev == TaskDone || ev == TaskStored && text == "succeeded" {
		l.Output = "out"
	}
	return l
}

var (
	submit   = taskLine(TaskSubmit, 0, "")
	accepted = taskLine(TaskAccepted, 0, "")
	done     = taskLine(TaskDone, 0, "")
)

func stored(state string, at int64) Line { return taskLine(TaskStored, at, state) }
func resumed(at int64) Line              { return taskLine(TaskResumed, at, "") }
func progress(at int64) Line             { return taskLine(TaskProgress, at, "") }

func TestTaskLedger(t *testing.T) {
	clean := [][]Line{
		{submit, accepted, resumed(0), progress(5), progress(10)},
		{}, // cut while booting
		{stored("checkpoint", 10), resumed(10), progress(15), done},
		{stored("succeeded", 100)},
	}
	for _, c := range []struct {
		name     string
		boots    [][]Line
		problems int
		finished int // the boot the task ended in; -1: not ended
		back     int
	}{
		{"clean", clean, 0, 2, 0},
		{"DONE lost with the cut", [][]Line{clean[0], {stored("checkpoint", 10), resumed(10), progress(15)}, {stored("succeeded", 100)}}, 0, 1, 0},
		{"not done yet", clean[:2], 0, -1, 0},
		{"resumed behind a printed checkpoint", [][]Line{clean[0], {stored("checkpoint", 5), resumed(5)}}, 1, -1, 1},
		{"resumed elsewhere than stored", [][]Line{clean[0], {stored("checkpoint", 10), resumed(0)}}, 2, -1, 1},
		{"submitted again", [][]Line{clean[0], {submit}}, 1, -1, 0},
		{"progress backwards", [][]Line{{submit, resumed(0), progress(10), progress(5)}}, 1, -1, 0},
		{"ran after the end", append(clean[:4:4], []Line{stored("succeeded", 100), resumed(100), done}), 3, 2, 0},
		{"wrong output", [][]Line{{submit, resumed(0), {Kind: KindTask, Task: "t1", Event: TaskDone, Output: "bad"}}}, 1, 0, 0},
		{"failed", [][]Line{{submit, resumed(0), taskLine(TaskFailed, 0, "failed timeout")}}, 1, -1, 0},
		{"another task", [][]Line{{submit, {Kind: KindTask, Task: "t2", Event: TaskSubmit}}}, 1, -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := TaskLedger{Want: "out"}
			for n, b := range c.boots {
				l.Apply(n, b)
			}
			if len(l.Problems) != c.problems || l.Backwards != c.back {
				t.Errorf("%d problems, %d backwards, want %d, %d: %q", len(l.Problems), l.Backwards, c.problems, c.back, l.Problems)
			}
			switch {
			case c.finished < 0 && l.Finished:
				t.Errorf("finished in boot %d, want not", l.FinishBoot)
			case c.finished >= 0 && (!l.Finished || l.FinishBoot != c.finished):
				t.Errorf("finished %v in boot %d, want boot %d", l.Finished, l.FinishBoot, c.finished)
			}
		})
	}
}

func TestParseTaskLines(t *testing.T) {
	for s, want := range map[string]Line{
		"TETHER-PL TASK a SUBMIT":                      {Kind: KindTask, Task: "a", Event: TaskSubmit},
		"TETHER-PL TASK a STORED running 0/60":         {Kind: KindTask, Task: "a", Event: TaskStored, Text: "running", Total: 60},
		"TETHER-PL TASK a STORED succeeded 60/60 beef": {Kind: KindTask, Task: "a", Event: TaskStored, Text: "succeeded", Done: 60, Total: 60, Output: "beef"},
		"TETHER-PL TASK a RESUMED-FROM 20/60":          {Kind: KindTask, Task: "a", Event: TaskResumed, Done: 20, Total: 60},
		"TETHER-PL TASK a PROGRESS 25/60\r\n":          {Kind: KindTask, Task: "a", Event: TaskProgress, Done: 25, Total: 60},
		"TETHER-PL TASK a DONE beef":                   {Kind: KindTask, Task: "a", Event: TaskDone, Output: "beef"},
		"TETHER-PL TASK a FAILED failed timeout: 1h":   {Kind: KindTask, Task: "a", Event: TaskFailed, Text: "failed timeout: 1h"},
		"TETHER-PL TASK a PAUSED 3/60":                 {Kind: KindOther, Text: "TASK PAUSED"},
	} {
		got, ok, err := ParseLine(s)
		if !ok || err != nil {
			t.Errorf("%q: ok=%v err=%v", s, ok, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", s, diff)
		}
	}
	for _, s := range []string{
		"TETHER-PL TASK",
		"TETHER-PL TASK a",
		"TETHER-PL TASK a PROGRESS",
		"TETHER-PL TASK a PROGRESS 61/60",
		"TETHER-PL TASK a PROGRESS 5",
		"TETHER-PL TASK a PROGRESS -1/60",
		"TETHER-PL TASK a RESUMED-FROM 1/0",
		"TETHER-PL TASK a STORED running",
		"TETHER-PL TASK a DONE",
	} {
		if _, ok, err := ParseLine(s); !ok || err == nil {
			t.Errorf("ParseLine(%q): ok=%v err=%v, want a protocol error", s, ok, err)
		}
	}
}

func TestPlanTaskCuts(t *testing.T) {
	p := PlanTaskCuts(7, 12, 34)
	if !cmp.Equal(p, PlanTaskCuts(7, 12, 34)) || cmp.Equal(p, PlanTaskCuts(8, 12, 34)) {
		t.Fatal("the plan is not a function of the seed")
	}
	if len(p) != 34 {
		t.Fatalf("%d cuts, want the budget of 34", len(p))
	}
	var count [numPhases]int
	for _, c := range p[:12] {
		count[c.Phase]++
	}
	// 12 × taskWeights: 1.2, 1.2, 1.8, 7.8 → 1, 1, 2, 8.
	if want := [numPhases]int{1, 1, 2, 8, 0}; count != want {
		t.Errorf("the first 12 cuts by phase: %v, want %v", count, want)
	}
	for _, c := range p {
		if c.Phase == PhaseCompact {
			t.Fatal("a compaction cut in the task run")
		}
	}
}

// The write cuts among the first Aim decide the step: the task's units
// split over one more boot than those, less three checkpoint intervals.
func TestTaskConfigStep(t *testing.T) {
	cfg := Config{VM: VMConfig{Qemu: "q", Kernel: "k", Initrd: "i", Disk: "d"}, Seed: 7,
		Task: &TaskConfig{Units: 720, Every: 5, Output: "x", Aim: 12}}
	cfg.ensureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Cuts != 34 || cfg.Task.MinCuts != 10 || cfg.Task.step != 720/9-15 {
		t.Errorf("budget %d, min cuts %d, step %d; want 34, 10, %d", cfg.Cuts, cfg.Task.MinCuts, cfg.Task.step, 720/9-15)
	}
	small := Config{VM: cfg.VM, Seed: 7, Task: &TaskConfig{Units: 100, Every: 5, Output: "x", Aim: 12}}
	small.ensureDefaults()
	if err := small.Validate(); err == nil || !strings.Contains(err.Error(), "more units") {
		t.Errorf("a task too small for its cuts: %v", err)
	}
}

// A write cut waits for the checkpoint step units past the resume point,
// then U × the time between checkpoints; the task must keep making
// progress meanwhile; the last boot watches the runner start.
func TestTaskCutTiming(t *testing.T) {
	cfg := Config{Task: &TaskConfig{Stall: time.Minute, FinalWait: 3 * time.Second}}
	at := func(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
	feed := func(b *boot, w *windows, lines map[int]string) {
		for _, ms := range []int{1000, 2000, 2010, 2100, 2200, 2400, 2700, 3000, 3100} {
			if s, ok := lines[ms]; ok {
				b.take(ConsoleLine{At: at(ms), Text: s + "\n"}, w, nil)
			}
		}
	}
	run := map[int]string{1000: "TETHER-PL-INIT START", 2000: "TETHER-PL OPENED recovered=0 next=9", 2010: "TETHER-PL HAVE 1-8",
		2100: "TETHER-PL TASK t STORED checkpoint 10/100", 2200: "TETHER-PL TASK t RESUMED-FROM 10/100",
		2400: "TETHER-PL TASK t PROGRESS 15/100", 2700: "TETHER-PL TASK t PROGRESS 20/100", 3000: "TETHER-PL TASK t PROGRESS 25/100"}

	w := initialWindows()
	b := &boot{cut: &Cut{Phase: PhaseWrite, U: 0.5}, step: 10}
	feed(b, w, map[int]string{1000: run[1000], 2000: run[2000], 2010: run[2010], 2100: run[2100], 2200: run[2200], 2400: run[2400]})
	if got, why := b.next(&cfg, w); got != at(2400)+time.Minute || why == "" {
		t.Errorf("before the goal: next at %v (%q), want the stall limit at %v", got, why, at(2400)+time.Minute)
	}
	feed(b, w, map[int]string{2700: run[2700], 3000: run[3000]})
	// The goal is 20, reached at 2.7 s; the checkpoints came 300 ms apart.
	if got, why := b.next(&cfg, w); got != at(2700+150) || why != "" {
		t.Errorf("past the goal: next at %v (%q), want the cut at 2.85 s", got, why)
	}

	w = initialWindows()
	b = &boot{cut: &Cut{Phase: PhaseWrite, U: 0.5}, step: 1000}
	feed(b, w, run)
	b.take(ConsoleLine{At: at(3100), Text: "TETHER-PL TASK t DONE beef\n"}, w, nil)
	if got, why := b.next(&cfg, w); got != at(3100+150) || why != "" {
		t.Errorf("after DONE: next at %v (%q), want the cut at 3.25 s", got, why)
	}

	b = &boot{}
	feed(b, initialWindows(), map[int]string{1000: run[1000], 2000: run[2000], 2010: run[2010], 2100: "TETHER-PL TASK t STORED succeeded 100/100 beef"})
	if got, why := b.next(&cfg, w); got != at(2100)+3*time.Second || why != "" {
		t.Errorf("the last boot: next at %v (%q), want 3 s after the listing", got, why)
	}
}
