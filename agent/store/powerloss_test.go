package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPowerLossWorkload is the guest workload of the power-cut harness
// (scripts/powerloss): it does nothing unless TETHER_POWERLOSS_DIR names
// the store's directory. It opens the store and prints, one write per line
// (os.Stdout is unbuffered):
//
//	TETHER-PL OPENED recovered=<0|1> next=<seq>
//	TETHER-PL HAVE <from>-<to>      (or HAVE <seq>) every record in the outbox
//	TETHER-PL BROKEN <what>         a journal invariant broken (none expected)
//
// then appends for ever from four writers — metrics and task events, and a
// journal entry with its checkpoint every few records (a 64 KiB checkpoint,
// in the value log, every fifth) — printing
//
//	TETHER-PL COMMIT <seq>
//
// only after Append or Journal returned, and every 200 records forces a
// compaction and a value-log GC between COMPACT BEGIN and COMPACT END, so
// cuts land there too. It never acknowledges: every committed seq must be
// listed by the next boot. TETHER_POWERLOSS_LIMIT=<n> stops after n
// records (to try it outside the VM).
func TestPowerLossWorkload(t *testing.T) {
	dir := os.Getenv("TETHER_POWERLOSS_DIR")
	if dir == "" {
		t.Skip("the power-cut harness's workload: set TETHER_POWERLOSS_DIR")
	}
	limit, _ := strconv.Atoi(os.Getenv("TETHER_POWERLOSS_LIMIT"))
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = os.Stdout.Write(fmt.Appendf(nil, "TETHER-PL "+format+"\n", args...))
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	s, rec, err := Open(dir, Options{
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		MaxOutboxBytes: 1 << 40, // nothing may be dropped: every commit is checked
		MaxOutboxAge:   100 * 365 * 24 * time.Hour,
		CommitInterval: 20 * time.Millisecond,
		BootID:         strings.TrimSpace(string(boot)),
	})
	if err != nil {
		say("ERROR open: %v", err)
		t.Fatal(err)
	}
	defer s.Close()
	recovered := 0
	if rec != nil {
		recovered = 1
		t.Logf("store recovered: %+v", rec)
	}
	say("OPENED recovered=%d next=%d", recovered, s.LastSeq()+1)
	have := map[uint64]bool{}
	for _, r := range workloadRanges(t, s, have) {
		say("HAVE %s", r)
	}
	for _, b := range checkJournal(s, have) {
		say("BROKEN %s", b)
	}

	ctx := context.Background()
	var n sync.Mutex // guards count
	count := 0
	next := func() (int, bool) {
		n.Lock()
		defer n.Unlock()
		count++
		return count, limit == 0 || count <= limit
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				i, ok := next()
				if !ok {
					return
				}
				var r Record
				var err error
				switch {
				case i%7 == 3:
					r, err = journalStep(ctx, s, fmt.Sprintf("task-%d", w))
				case i%3 == 0:
					r, err = s.Append(ctx, KindTaskEvent, sized("tether/v1/pl/tasks/x/status", 200))
				default:
					r, err = s.Append(ctx, KindMetrics, sized("tether/v1/pl/nodes/pl/metrics", 700))
				}
				if err != nil {
					say("ERROR write: %v", err)
					t.Error(err)
					return
				}
				say("COMMIT %d", r.Seq)
				if i%200 == 0 {
					say("COMPACT BEGIN")
					if err := s.DB().Flatten(1); err != nil {
						t.Logf("flatten: %v", err)
					}
					if _, err := s.DB().CollectGarbage(ctx); err != nil {
						t.Logf("value-log GC: %v", err)
					}
					say("COMPACT END")
				}
			}
		})
	}
	wg.Wait()
}

// journalStep journals the next transition of task with a checkpoint that
// names the transition count, so the next boot can check they match.
func journalStep(ctx context.Context, s *Store, task string) (Record, error) {
	st, _, err := s.TaskState(task)
	if err != nil {
		return Record{}, err
	}
	n := st.Transitions + 1
	cp := fmt.Appendf(nil, "%s transition=%d;", task, n)
	if n%5 == 0 {
		cp = append(cp, make([]byte, 64<<10)...) // into the value log
	}
	t := Transition{Attempt: 1, From: st.State, To: fmt.Sprintf("step-%d", n), At: time.Now()}
	return s.Journal(ctx, task, t, cp, sized("tether/v1/pl/tasks/"+task+"/status", 150))
}

// workloadRanges lists the outbox as ranges of consecutive seqs.
func workloadRanges(t *testing.T, s *Store, have map[uint64]bool) []string {
	var out []string
	var from, to uint64
	flush := func() {
		switch {
		case from == 0:
		case from == to:
			out = append(out, strconv.FormatUint(from, 10))
		default:
			out = append(out, fmt.Sprintf("%d-%d", from, to))
		}
	}
	for _, seq := range pendingSeqs(t, s) {
		have[seq] = true
		if from != 0 && seq == to+1 {
			to = seq
			continue
		}
		flush()
		from, to = seq, seq
	}
	flush()
	return out
}

// checkJournal checks that every task's state, history, checkpoint and
// last event were committed together.
func checkJournal(s *Store, have map[uint64]bool) []string {
	tasks, err := s.Tasks()
	if err != nil {
		return []string{"tasks unreadable: " + err.Error()}
	}
	var broken []string
	for _, st := range tasks {
		cp, ok, err := s.Checkpoint(st.Task)
		want := fmt.Sprintf("%s transition=%d;", st.Task, st.Transitions)
		if err != nil || !ok || !strings.HasPrefix(string(cp), want) {
			broken = append(broken, fmt.Sprintf("%s: state after %d transitions, checkpoint %.40q (%v)",
				st.Task, st.Transitions, cp, err))
		}
		if hist, err := s.History(st.Task); err != nil || uint32(len(hist)) != st.Transitions {
			broken = append(broken, fmt.Sprintf("%s: %d transitions, history of %d (%v)", st.Task, st.Transitions, len(hist), err))
		}
		if !have[st.Seq] {
			broken = append(broken, fmt.Sprintf("%s: the event of its last transition (seq %d) is not in the outbox", st.Task, st.Seq))
		}
	}
	return broken
}
