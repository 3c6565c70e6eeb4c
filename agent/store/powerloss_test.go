package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/scripts/powerloss/ackline"
)

// TestPowerLossWorkload is the guest workload of the power-cut harness
// (scripts/powerloss): it does nothing unless TETHER_POWERLOSS_DIR names
// the store's directory. It opens the store and prints, one write per line
// (os.Stdout is unbuffered):
//
//	TETHER-PL OPENED recovered=<0|1> next=<seq>
//	TETHER-PL HAVE <from>-<to>      (or HAVE <seq>) every record in the outbox
//	TETHER-PL BROKEN <what>         an invariant broken (none expected)
//
// checking every listed record's payload against the one its seq was
// written with, the listing's order, and the task journal (state, history,
// checkpoint and last event committed together; no checkpoint of a task
// the store does not know), and then its size:
//
//	TETHER-PL STORE disk=<bytes> live=<bytes> open_ms=<ms>
//
// (blocks allocated under the store's directory, the pending records' and
// checkpoints' bytes, how long Open took). It then appends for ever from four writers —
// metrics (every other record a 14 KiB batch, under ValueThreshold, so
// the memtable rotates within a boot) and task events, one of 11 a 20 KiB
// event (over the device's ValueThreshold: a blob), and a journal entry with its checkpoint every
// few records (a 64 KiB checkpoint every fifth; a task forgotten after 12
// transitions starts over) — printing
//
//	TETHER-PL COMMIT <seq>
//
// only after Append or Journal returned. Writers release the oldest
// appended records (those earlier boots listed first) as a broker's PUBACK
// would, printing
//
//	TETHER-PL PUBACK <seq>          before Ack: the record may be gone from now on
//	TETHER-PL DELETED <seq>         after a later commit returned: its deletion is durable
//
// and every 200 records one forces a compaction and a value-log GC, then
// closes the store and opens it again, between COMPACT BEGIN and COMPACT
// END, so cuts land there too; after the reopen it checks, as the next boot
// would, that every record committed and not released is listed, no
// deleted one is, and the journal is whole (BROKEN otherwise). A committed
// seq not released must be listed by the next boot; a deleted one never
// again.
// It announces the store's events as they begin, counted from 1 within the
// process (the boot), so the harness can aim cuts at them:
//
//	TETHER-PL EVENT open <n>        before each Open (the boot's own is 1)
//	TETHER-PL EVENT close <n>       before each Close of the reopen
//	TETHER-PL EVENT gc <n>          before each value-log GC
//	TETHER-PL EVENT rotate <n> <f>  a new write-ahead (.mem) or value-log (.vlog) file f
//
// Badger rotates its files inside a write and says nothing, so rotations
// are seen by looking at the directory every rotatePoll after the listing:
// the line comes up to that late, and the files an open makes are not
// rotations.
// TETHER_POWERLOSS_LIMIT=<n> stops after n records (to try it outside the
// VM).
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
	var eventMu sync.Mutex // guards events
	events := map[string]int{}
	announce := func(kind string, extra ...string) {
		eventMu.Lock()
		defer eventMu.Unlock()
		events[kind]++
		say("EVENT %s %d%s", kind, events[kind], strings.Join(append([]string{""}, extra...), " "))
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	opts := Options{
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		MaxOutboxBytes: 1 << 40, // nothing may be dropped: every commit is checked
		MaxOutboxAge:   100 * 365 * 24 * time.Hour,
		CommitInterval: 20 * time.Millisecond,
		BootID:         strings.TrimSpace(string(boot)),
	}
	openStart := time.Now()
	announce("open")
	s, rec, err := Open(dir, opts)
	if err != nil {
		say("ERROR open: %v", err)
		t.Fatal(err)
	}
	openTook := time.Since(openStart)
	// storeMu guards s: the writers hold it shared for each step, a reopen
	// exclusively.
	var storeMu sync.RWMutex
	defer func() { _ = s.Close() }()
	recovered := 0
	if rec != nil {
		recovered = 1
		t.Logf("store recovered: %+v", rec)
	}
	say("OPENED recovered=%d next=%d", recovered, s.LastSeq()+1)
	have := map[uint64]bool{}
	ranges, broken := workloadRanges(s, have)
	for _, r := range ranges {
		say("HAVE %s", r)
	}
	for _, b := range append(broken, checkJournal(s, have)...) {
		say("BROKEN %s", b)
	}
	say("STORE disk=%d live=%d open_ms=%d", diskUse(t, dir), liveBytes(t, s), openTook.Milliseconds())
	// What a reopen must list: committed and not released (kept), and must
	// not (deleted). A task's last event is not released while it is the
	// last (checkJournal wants it listed): an acknowledgement of it is held
	// until the task's next transition commits. trackMu guards these.
	var trackMu sync.Mutex
	kept, deleted := map[uint64]bool{}, map[uint64]bool{}
	for seq := range have {
		kept[seq] = true
	}
	lastOf := map[uint64]string{}  // a task's last event → the task
	lastSeq := map[string]uint64{} // the task → its last event
	held := map[string]uint64{}    // the task → its last event, acknowledged
	var pendingDel []uint64        // released (Ack called), for the next commit to delete
	if tasks, err := s.Tasks(); err == nil {
		for _, st := range tasks {
			lastOf[st.Seq], lastSeq[st.Task] = st.Task, st.Seq
		}
	}
	// release lets go of seq as the uplink does on a broker's PUBACK:
	// PUBACK, then Ack; the deletion is durable once a commit begun
	// after it returned (a writer's, or the reopen's close). The caller
	// holds storeMu shared; s is the store it read under it.
	release := func(s *Store, seq uint64) {
		say("PUBACK %d", seq)
		trackMu.Lock()
		delete(kept, seq) // it may vanish from now on
		trackMu.Unlock()
		if err := s.Ack(seq); err != nil {
			say("ERROR ack: %v", err)
			os.Exit(2)
		}
		trackMu.Lock()
		pendingDel = append(pendingDel, seq)
		trackMu.Unlock()
	}
	// The harness is the broker: it acknowledges records over the
	// console's input (scripts/powerloss/hostack.go), and only those are
	// released. A line whose check fails, or a seq not held, is ignored.
	go ackline.Read(os.Stdin, func(seq uint64) { // ends with the process (a cut) or at the input's end
		storeMu.RLock()
		defer storeMu.RUnlock()
		trackMu.Lock()
		task, last := lastOf[seq]
		switch {
		case !kept[seq]:
		case last:
			held[task] = seq
		default:
			trackMu.Unlock()
			release(s, seq)
			return
		}
		trackMu.Unlock()
	})
	// files is the store's write-ahead and value-log files already seen:
	// the watcher reads and writes it under storeMu shared (it is the
	// only one), a reopen under storeMu.
	files := storeFiles(dir)
	reopen := func() []string {
		storeMu.Lock()
		defer storeMu.Unlock()
		defer func() { files = storeFiles(dir) }()
		announce("close")
		if err := s.Close(); err != nil {
			return []string{"close: " + err.Error()}
		}
		// Close committed the acknowledgements not yet deleted.
		trackMu.Lock()
		for _, seq := range pendingDel {
			say("DELETED %d", seq)
			deleted[seq] = true
		}
		pendingDel = nil
		trackMu.Unlock()
		announce("open")
		s2, _, err := Open(dir, opts)
		if err != nil {
			// The workload cannot go on: ERROR is what the harness reads;
			// t.Fatal may not be called from a writer's goroutine.
			say("ERROR reopen: %v", err)
			os.Exit(2)
		}
		s = s2
		listed := map[uint64]bool{}
		_, broken := workloadRanges(s, listed)
		broken = append(broken, checkJournal(s, listed)...)
		trackMu.Lock()
		defer trackMu.Unlock()
		for seq := range kept {
			if !listed[seq] {
				broken = append(broken, fmt.Sprintf("record %d, committed and not released, is gone after a close and reopen", seq))
			}
		}
		for seq := range deleted {
			if listed[seq] {
				broken = append(broken, fmt.Sprintf("record %d, deleted, is back after a close and reopen", seq))
			}
		}
		return broken
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
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		t := time.NewTicker(rotatePoll)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
			storeMu.RLock()
			for name := range storeFiles(dir) {
				if !files[name] {
					files[name] = true
					announce("rotate", name)
				}
			}
			storeMu.RUnlock()
		}
	})
	defer func() { close(stopWatch); watch.Wait() }()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				i, ok := next()
				if !ok {
					return
				}
				storeMu.RLock()
				s := s
				// The acknowledgements the harness sent and the reader
				// applied: this write's commit, begun after their Ack,
				// carries their deletions.
				trackMu.Lock()
				released := pendingDel
				pendingDel = nil
				trackMu.Unlock()
				var r Record
				var err error
				task := ""
				switch {
				case i%7 == 3:
					task = fmt.Sprintf("task-%d", w)
					r, err = journalStep(ctx, s, task)
				case i%11 == 5:
					r, err = s.Append(ctx, KindTaskEvent, plPayload("tether/v1/pl/tasks/big/status", 20<<10))
				case i%2 == 0:
					// A node's backlog of metrics: under ValueThreshold, so
					// in the LSM tree; enough bytes that the memtable
					// rotates about once per 200 records.
					r, err = s.Append(ctx, KindMetrics, plPayload("tether/v1/pl/nodes/pl/metrics", 14<<10))
				case i%3 == 0:
					r, err = s.Append(ctx, KindTaskEvent, plPayload("tether/v1/pl/tasks/x/status", 200))
				default:
					r, err = s.Append(ctx, KindMetrics, plPayload("tether/v1/pl/nodes/pl/metrics", 700))
				}
				if err != nil {
					say("ERROR write: %v", err)
					t.Error(err)
					storeMu.RUnlock()
					return
				}
				// Tracked before COMMIT is printed: the harness may
				// acknowledge r as soon as it reads that line.
				trackMu.Lock()
				kept[r.Seq] = true
				for _, seq := range released {
					deleted[seq] = true
				}
				superseded, ok := uint64(0), false
				if task != "" {
					// r is the task's last event now: an acknowledgement of
					// the one before, held until it was superseded, may be
					// applied.
					delete(lastOf, lastSeq[task])
					lastOf[r.Seq], lastSeq[task] = task, r.Seq
					superseded, ok = held[task]
					delete(held, task)
				}
				trackMu.Unlock()
				say("COMMIT %d", r.Seq)
				// This write's commit began after the acks above: it
				// carried their deletions.
				for _, seq := range released {
					say("DELETED %d", seq)
				}
				if ok {
					release(s, superseded)
				}
				if i%200 != 0 {
					storeMu.RUnlock()
					continue
				}
				say("COMPACT BEGIN")
				if err := s.DB().Flatten(1); err != nil {
					t.Logf("flatten: %v", err)
				}
				announce("gc")
				if _, err := s.DB().CollectGarbage(ctx); err != nil {
					t.Logf("value-log GC: %v", err)
				}
				storeMu.RUnlock()
				for _, b := range reopen() {
					say("BROKEN %s", b)
				}
				say("COMPACT END")
			}
		})
	}
	wg.Wait()
}

// rotatePoll is how often the workload looks for rotated files: a cut
// aimed at a rotation lands up to this much later than planned.
const rotatePoll = 5 * time.Millisecond

// storeFiles is the set of Badger's write-ahead (.mem) and value-log
// (.vlog) files in dir.
func storeFiles(dir string) map[string]bool {
	ents, _ := os.ReadDir(dir)
	m := map[string]bool{}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".mem") || strings.HasSuffix(n, ".vlog") {
			m[n] = true
		}
	}
	return m
}

// journalStep journals the next transition of task with a checkpoint that
// names the transition count, so the next boot can check they match.
func journalStep(ctx context.Context, s *Store, task string) (Record, error) {
	st, _, err := s.TaskState(task)
	if err != nil {
		return Record{}, err
	}
	if st.Transitions >= 12 {
		// The task ended: forgotten, it starts over as a new one. Its
		// checkpoint must not come back (checkJournal).
		if err := s.ForgetTask(task); err != nil {
			return Record{}, err
		}
		st = TaskState{}
	}
	n := st.Transitions + 1
	cp := fmt.Appendf(nil, "%s transition=%d;", task, n)
	if n%5 == 0 {
		cp = append(cp, make([]byte, 64<<10)...) // into the value log
	}
	t := Transition{Attempt: 1, From: st.State, To: fmt.Sprintf("step-%d", n), At: time.Now()}
	return s.Journal(ctx, task, t, cp, plPayload("tether/v1/pl/tasks/"+task+"/status", 150))
}

// plPayload builds a record of n bytes whose content follows from its seq
// and length alone, so a listing can check every byte (plCheck).
func plPayload(topic string, n int) func(uint64) (string, []byte, error) {
	return func(seq uint64) (string, []byte, error) {
		return topic, plBytes(seq, n), nil
	}
}

func plBytes(seq uint64, n int) []byte {
	p := make([]byte, n)
	head := fmt.Appendf(nil, `{"seq":%d}`, seq)
	copy(p, head)
	for j := len(head); j < n; j++ {
		p[j] = byte('a' + (seq+uint64(j))%26)
	}
	return p
}

// workloadRanges lists the outbox as ranges of consecutive seqs, and what
// is wrong with it: a record out of order, or whose payload is not the one
// its seq was written with.
func workloadRanges(s *Store, have map[uint64]bool) ([]string, []string) {
	var out, broken []string
	var from, to, after uint64
	flush := func() {
		switch {
		case from == 0:
		case from == to:
			out = append(out, strconv.FormatUint(from, 10))
		default:
			out = append(out, fmt.Sprintf("%d-%d", from, to))
		}
	}
	for {
		recs, err := s.Pending(after, 100)
		if err != nil {
			return out, append(broken, "outbox unreadable: "+err.Error())
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Seq <= after {
				broken = append(broken, fmt.Sprintf("record %d listed after %d", r.Seq, after))
			}
			after = r.Seq
			if !bytes.Equal(r.Payload, plBytes(r.Seq, len(r.Payload))) || !strings.HasPrefix(r.Topic, "tether/v1/pl/") {
				broken = append(broken, fmt.Sprintf("record %d: topic %.40q, payload of %d bytes %.40q is not what was written",
					r.Seq, r.Topic, len(r.Payload), r.Payload))
			}
			have[r.Seq] = true
			if from != 0 && r.Seq == to+1 {
				to = r.Seq
				continue
			}
			flush()
			from, to = r.Seq, r.Seq
		}
	}
	flush()
	return out, broken
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
	known := map[string]bool{}
	for _, st := range tasks {
		known[st.Task] = true
	}
	err = s.scan(prefixCheckpoint, func(k, _ []byte) error {
		if task := string(k[len(prefixCheckpoint):]); !known[task] {
			broken = append(broken, fmt.Sprintf("%s: a checkpoint of a task the store does not know (forgotten, and back)", task))
		}
		return nil
	})
	if err != nil {
		broken = append(broken, "checkpoints unreadable: "+err.Error())
	}
	return broken
}
