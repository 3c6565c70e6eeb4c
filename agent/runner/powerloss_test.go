package runner

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/scripts/powerloss/ackline"
)

// The task the power-cut workload runs: a checkpointable cpu builtin whose
// size the harness chooses (scripts/powerloss computes the same task's
// output with BuiltinOutput to check the one the VM reports).
var (
	plUnits  = flag.Int64("powerloss.units", 600, "power-cut task workload: units of the cpu task")
	plUnitMS = flag.Int64("powerloss.unit-ms", 10, "power-cut task workload: the cpu task's unit_ms")
	plEvery  = flag.Int64("powerloss.every", 10, "power-cut task workload: units between the cpu task's checkpoints")
)

// The power-cut workload's node, task and scheduler key. The key is made
// from a fixed seed: the workload signs its one assignment itself and pins
// the public key, as a node pins its scheduler's.
const (
	plNode = "pl-node"
	plTask = "pl-cpu"
)

var plKey = ed25519.NewKeyFromSeed(func() []byte { s := sha256.Sum256([]byte("tether power-cut task workload")); return s[:] }())

func plSpec() task.Spec {
	return task.Spec{Kind: task.KindBuiltin, Checkpointable: true, Timeout: task.Duration(24 * time.Hour),
		Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: *plUnits, UnitMS: *plUnitMS, CheckpointEvery: *plEvery}}
}

// TestPowerLossTaskWorkload is the guest workload of the power-cut
// harness's task run (scripts/powerloss, Config.Task): it does nothing
// unless TETHER_POWERLOSS_DIR names the store's directory. It opens the
// agent's store there and runs the task runner on it with no broker, as a
// node that is offline: every task event stays in the outbox. It prints
// (see scripts/powerloss/doc.go)
//
//	TETHER-PL OPENED recovered=<0|1> next=<seq>
//	TETHER-PL HAVE <from>-<to>        every record in the outbox
//	TETHER-PL BROKEN <what>           the task's journal is not coherent
//	TETHER-PL TASK pl-cpu STORED <state> <done>/<total> [<output>]
//	                                  the journal knows the task: its state and checkpoint
//	TETHER-PL TASK pl-cpu SUBMIT      it does not: the signed assignment goes to the runner
//
// then, once each write of the runner has returned (it is durable),
//
//	TETHER-PL COMMIT <seq>
//	TETHER-PL TASK pl-cpu ACCEPTED | RESUMED-FROM <n>/<total> | PROGRESS <done>/<total>
//	                    | DONE <output> | FAILED <state> <why>
//
// On a later boot the runner's restart recovery resumes the task from its
// last checkpoint; nothing is submitted again. TETHER_POWERLOSS_RUN=<d>
// stops the runner cleanly after d (to try it outside the VM).
func TestPowerLossTaskWorkload(t *testing.T) {
	dir := os.Getenv("TETHER_POWERLOSS_DIR")
	if dir == "" {
		t.Skip("the power-cut harness's task workload: set TETHER_POWERLOSS_DIR")
	}
	var runFor time.Duration
	if s := os.Getenv("TETHER_POWERLOSS_RUN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TETHER_POWERLOSS_RUN: %v", err)
		}
		runFor = d
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := powerLossTask(os.Stdin, os.Stdout, log, dir, plSpec(), runFor); err != nil {
		t.Fatal(err)
	}
}

// powerLossTask is the workload: it prints on out, one write per line,
// applies the acknowledgements read from in (nil: none; see plAcks), and
// returns after runFor (0: never).
func powerLossTask(in io.Reader, out io.Writer, log *slog.Logger, dir string, spec task.Spec, runFor time.Duration) error {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = out.Write(fmt.Appendf(nil, "TETHER-PL "+format+"\n", args...))
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	s, rec, err := store.Open(dir, store.Options{
		Logger:         log.With("component", "store"),
		MaxOutboxBytes: 1 << 40, // nothing may be dropped: every commit is checked
		MaxOutboxAge:   100 * 365 * 24 * time.Hour,
		CommitInterval: 20 * time.Millisecond,
		BootID:         strings.TrimSpace(string(boot)),
	})
	if err != nil {
		say("ERROR open: %v", err)
		return err
	}
	defer s.Close()
	recovered := 0
	if rec != nil {
		recovered = 1
	}
	say("OPENED recovered=%d next=%d", recovered, s.LastSeq()+1)
	have, err := listOutbox(s, func(r string) { say("HAVE %s", r) })
	if err != nil {
		say("ERROR listing the outbox: %v", err)
		return err
	}
	st, known, err := s.TaskState(plTask)
	if err != nil {
		say("ERROR task state: %v", err)
		return err
	}
	acks := &plAcks{s: s, say: say, kept: have, last: st.Seq}
	defer acks.stop() // before the store closes
	if in != nil {
		go ackline.Read(in, acks.take) // ends with the process (a cut) or at the input's end
	}
	if known {
		status, broken := checkTaskJournal(s, st, have)
		for _, b := range broken {
			say("BROKEN %s", b)
		}
		say("TASK %s STORED %s", plTask, status)
	} else {
		say("TASK %s SUBMIT", plTask)
	}

	ctx, cancel := context.WithCancel(context.Background())
	if runFor > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), runFor)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { _ = s.Run(ctx) })
	wg.Go(func() { plBlobs(ctx, filepath.Join(filepath.Dir(dir), "blobs"), say, log.With("component", "blobs")) })
	r, err := New(Options{Node: plNode, Region: "pl", Store: consoleStore{s, say, acks}, Keys: []ed25519.PublicKey{plKey.Public().(ed25519.PublicKey)},
		Slots: 1, Workdir: filepath.Join(filepath.Dir(dir), "tasks"), Logger: log.With("component", "tasks")})
	if err != nil {
		say("ERROR runner: %v", err)
		return err
	}
	if !known {
		now := time.Now()
		env, err := task.Sign(plKey, task.Assignment{V: task.Version, Op: task.AssignRun, Node: plNode, Task: plTask,
			Attempt: 1, Issued: now.Add(-time.Minute), Expires: now.Add(30 * 24 * time.Hour), Spec: &spec})
		if err != nil {
			say("ERROR sign: %v", err)
			return err
		}
		b, _ := json.Marshal(env)
		r.Submit(b)
	}
	return r.Run(ctx)
}

// consoleStore is the agent's store, printing every write the runner
// makes once it returned: COMMIT for the ledger of the harness, DELETED
// for the releases its commit carried, and a TASK line for the power-cut
// task's events.
type consoleStore struct {
	*store.Store
	say  func(format string, args ...any)
	acks *plAcks
}

func (c consoleStore) Journal(ctx context.Context, id string, t store.Transition, checkpoint []byte,
	build func(seq uint64) (string, []byte, error)) (store.Record, error) {
	released := c.acks.begin()
	rec, err := c.Store.Journal(ctx, id, t, checkpoint, build)
	c.printed(rec, err, true, released)
	return rec, err
}

func (c consoleStore) Append(ctx context.Context, kind store.Kind, build func(seq uint64) (string, []byte, error)) (store.Record, error) {
	released := c.acks.begin()
	rec, err := c.Store.Append(ctx, kind, build)
	c.printed(rec, err, false, released)
	return rec, err
}

func (c consoleStore) printed(rec store.Record, err error, journal bool, released []uint64) {
	if err != nil {
		c.say("ERROR write: %v", err)
		return
	}
	c.acks.committed(rec.Seq, journal) // before COMMIT: the harness may acknowledge it at once
	c.say("COMMIT %d", rec.Seq)
	for _, seq := range released { // released before this write began: its commit deleted them
		c.say("DELETED %d", seq)
	}
	var ev task.Event
	if json.Unmarshal(rec.Payload, &ev) != nil || ev.Task != plTask {
		return
	}
	switch ev.State {
	case task.EventAccepted:
		c.say("TASK %s ACCEPTED", plTask)
	case task.EventRunning:
		c.say("TASK %s RESUMED-FROM %d/%d", plTask, ev.Progress, ev.Total)
	case task.EventCheckpoint:
		c.say("TASK %s PROGRESS %d/%d", plTask, ev.Progress, ev.Total)
	case task.EventSucceeded:
		c.say("TASK %s DONE %s", plTask, ev.Result.Output)
	default:
		c.say("TASK %s FAILED %s %s", plTask, ev.State, ev.Error)
	}
}

// plAcks applies the harness's acknowledgements (it is the node's broker:
// scripts/powerloss/hostack.go) as the uplink applies a PUBACK: PUBACK is
// printed, then store.Ack; the deletion is durable once a write begun
// after it returned (DELETED). Only records the store holds unreleased are
// taken, and the task's last event is not released while it is the last
// (checkTaskJournal wants it listed): its acknowledgement is held until
// the next transition commits.
type plAcks struct {
	s   *store.Store
	say func(format string, args ...any)

	mu      sync.Mutex
	kept    map[uint64]bool // in the outbox and not released: listed at open, or committed since
	last    uint64          // the task's last event
	held    bool            // last was acknowledged
	pending []uint64        // released, for the next write to delete
	stopped bool            // the store is closing: no more releases
}

func (a *plAcks) take(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.stopped, !a.kept[seq]:
	case seq == a.last:
		a.held = true
	default:
		a.release(seq)
	}
}

// release lets go of seq; a.mu held.
func (a *plAcks) release(seq uint64) {
	a.say("PUBACK %d", seq)
	delete(a.kept, seq)
	if err := a.s.Ack(seq); err != nil {
		a.say("ERROR ack: %v", err)
		return
	}
	a.pending = append(a.pending, seq)
}

// stop ends the releases, before the store closes.
func (a *plAcks) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
}

// begin takes the releases a write about to begin will delete.
func (a *plAcks) begin() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending
	a.pending = nil
	return p
}

// committed records a write that returned: seq is held unreleased, and a
// journal write's event is the task's last, which frees a held
// acknowledgement of the one before.
func (a *plAcks) committed(seq uint64, journal bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kept[seq] = true
	if !journal {
		return
	}
	prev, held := a.last, a.held
	a.last, a.held = seq, false
	if held && !a.stopped {
		a.release(prev)
	}
}

// listOutbox calls list with every run of consecutive seqs in the outbox
// ("<from>-<to>" or "<seq>") and returns the seqs.
func listOutbox(s *store.Store, list func(string)) (map[uint64]bool, error) {
	have := map[uint64]bool{}
	var from, to, after uint64
	flush := func() {
		switch {
		case from == 0:
		case from == to:
			list(strconv.FormatUint(from, 10))
		default:
			list(fmt.Sprintf("%d-%d", from, to))
		}
	}
	for {
		recs, err := s.Pending(after, 512)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			have[r.Seq] = true
			if from == 0 || r.Seq != to+1 {
				flush()
				from = r.Seq
			}
			to = r.Seq
		}
		after = recs[len(recs)-1].Seq
	}
	flush()
	return have, nil
}

// checkTaskJournal describes the task as the journal holds it ("<state>
// <done>/<total> [<output>]", done being where it resumes) and says what
// is not coherent: the transitions must follow each other from accepted to
// at most one end, the saved record must be the attempt's with the
// checkpoint its progress says, and the last event must be in the outbox.
func checkTaskJournal(s *store.Store, st store.TaskState, have map[uint64]bool) (string, []string) {
	var broken []string
	hist, err := s.History(plTask)
	if err != nil || uint32(len(hist)) != st.Transitions {
		broken = append(broken, fmt.Sprintf("%d transitions, a history of %d (%v)", st.Transitions, len(hist), err))
	}
	prev := ""
	for i, h := range hist {
		switch {
		case h.From != prev:
			broken = append(broken, fmt.Sprintf("transition %d from %q, after %q", i+1, h.From, prev))
		case terminal(prev):
			broken = append(broken, fmt.Sprintf("transition %d to %s after the end (%s)", i+1, h.To, prev))
		case i == 0 && h.To != task.EventAccepted, i > 0 && !slices.Contains([]string{task.EventRunning,
			task.EventCheckpoint, task.EventSucceeded, task.EventFailed, task.EventCancelled}, h.To):
			broken = append(broken, fmt.Sprintf("transition %d to %q", i+1, h.To))
		}
		prev = h.To
	}
	if !have[st.Seq] {
		broken = append(broken, fmt.Sprintf("the event of the last transition (seq %d) is not in the outbox", st.Seq))
	}
	blob, ok, err := s.Checkpoint(plTask)
	var sv saved
	if err == nil && ok {
		sv, err = decodeSaved(blob)
	}
	if err != nil || !ok || sv.Attempt != st.Attempt || sv.Spec.Builtin == nil {
		return st.State + " ?/?", append(broken, fmt.Sprintf("saved record unusable (found %v, attempt %d of %d): %v", ok, sv.Attempt, st.Attempt, err))
	}
	units := sv.Spec.Builtin.Units
	var done int64
	if sv.State != nil {
		cs, err := decodeBuiltinState(sv.State, units)
		if err != nil {
			broken = append(broken, "checkpoint: "+err.Error())
		}
		done = cs.done
	}
	if !terminal(st.State) && sv.Progress != done {
		broken = append(broken, fmt.Sprintf("saved progress %d, its checkpoint is at %d", sv.Progress, done))
	}
	status := fmt.Sprintf("%s %d/%d", st.State, done, units)
	if st.State == task.EventSucceeded {
		if sv.Result == nil || sv.Result.Output == "" {
			return status, append(broken, "succeeded without an output")
		}
		status = fmt.Sprintf("%s %d/%d %s", st.State, units, units, sv.Result.Output)
	}
	return status, broken
}

// TestPowerLossTaskWorkload on the host: stopped and started again on the
// same store, the workload submits its task once, resumes it where its
// last printed checkpoint left it, and ends with the output of a run
// straight through.
func TestPowerLossTaskWorkloadResumes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	spec := task.Spec{Kind: task.KindBuiltin, Checkpointable: true,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 40, UnitMS: 10, CheckpointEvery: 4}}
	want, err := BuiltinOutput(*spec.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var accepted, done bool
	var last int64 // the last checkpoint printed
	releases := 0  // PUBACK lines
	for run := 1; ; run++ {
		if run > 40 {
			t.Fatal("the task did not finish in 40 runs")
		}
		out := newBroker()
		if err := powerLossTask(out.in, out, testenv.Logger(t, slog.LevelInfo), dir, spec, 120*time.Millisecond); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		text := out.close()
		releases += out.released
		if out.unacked != "" {
			t.Fatalf("run %d: %s, which the broker never acknowledged", run, out.unacked)
		}
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(strings.TrimPrefix(l, "TETHER-PL "))
			if len(f) < 3 || f[0] != "TASK" {
				if f[0] == "BROKEN" || f[0] == "ERROR" {
					t.Fatalf("run %d: %s", run, l)
				}
				continue
			}
			var progress int64
			if len(f) > 3 {
				n, _, _ := strings.Cut(f[len(f)-1], "/")
				progress, _ = strconv.ParseInt(n, 10, 64)
			}
			switch f[2] {
			case "SUBMIT":
				if accepted {
					t.Fatalf("run %d: submitted again after it was accepted", run)
				}
			case "ACCEPTED":
				accepted = true
			case "RESUMED-FROM", "PROGRESS":
				if done || progress < last || f[2] == "PROGRESS" && progress == last {
					t.Fatalf("run %d: %s after the checkpoint at %d (done: %v)", run, l, last, done)
				}
				last = progress
			case "DONE":
				if done || f[3] != want {
					t.Fatalf("run %d: %s, want %s once", run, l, want)
				}
				done = true
			case "STORED":
				if len(f) != 5 && len(f) != 6 {
					t.Fatalf("run %d: %s", run, l)
				}
				n, _, _ := strings.Cut(f[4], "/")
				if stored, _ := strconv.ParseInt(n, 10, 64); stored < last {
					t.Fatalf("run %d: %s, after a checkpoint at %d", run, l, last)
				}
				if done && (f[3] != task.EventSucceeded || len(f) != 6 || f[5] != want) {
					t.Fatalf("run %d after the end: %s", run, l)
				}
				if done {
					if run < 3 {
						t.Fatalf("done in %d runs of 120 ms: the test shows no resume", run-1)
					}
					if releases == 0 {
						t.Fatal("no record released on the broker's acknowledgements")
					}
					return
				}
			default:
				t.Fatalf("run %d: %s", run, l)
			}
		}
	}
}

// broker is the power-cut harness's part for TestPowerLossTaskWorkloadResumes:
// it keeps what the workload prints and acknowledges every record
// committed or listed through in, as the harness does over the console,
// and notes a PUBACK of a seq it did not acknowledge.
type broker struct {
	in   *io.PipeReader
	pw   *io.PipeWriter
	acks chan uint64
	done chan struct{}

	mu       sync.Mutex
	out      strings.Builder
	sent     map[uint64]bool
	released int
	unacked  string
}

func newBroker() *broker {
	b := &broker{acks: make(chan uint64, 1<<16), done: make(chan struct{}), sent: map[uint64]bool{}}
	b.in, b.pw = io.Pipe()
	go func() { // ends at close
		defer close(b.done)
		for seq := range b.acks {
			_, _ = io.WriteString(b.pw, ackline.Format(seq))
		}
		b.pw.Close()
	}()
	return b
}

func (b *broker) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out.Write(p)
	f := strings.Fields(string(p))
	if len(f) != 3 || f[0] != "TETHER-PL" {
		return len(p), nil
	}
	from, to, _ := strings.Cut(f[2], "-")
	lo, _ := strconv.ParseUint(from, 10, 64)
	hi, err := strconv.ParseUint(to, 10, 64)
	if err != nil {
		hi = lo
	}
	switch f[1] {
	case "COMMIT", "HAVE":
		for seq := lo; seq <= hi; seq++ {
			b.sent[seq] = true
			b.acks <- seq
		}
	case "PUBACK":
		b.released++
		if !b.sent[lo] && b.unacked == "" {
			b.unacked = strings.TrimSpace(string(p))
		}
	}
	return len(p), nil
}

// close ends the acknowledgements and returns what was printed.
func (b *broker) close() string {
	close(b.acks)
	b.in.Close() // the workload's reader, if still reading, ends
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// BuiltinOutput agrees with the digest computed the tests' own way.
func TestBuiltinOutput(t *testing.T) {
	for _, b := range []task.Builtin{{Name: task.BuiltinCPU, Units: 7, UnitMS: 2}, {Name: task.BuiltinSleep, Units: 9}} {
		got, err := BuiltinOutput(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(b); got != want {
			t.Errorf("%s: %s, want %s", b.Name, got, want)
		}
	}
	if _, err := BuiltinOutput(task.Builtin{Name: "gpu", Units: 1}); err == nil {
		t.Error("an unknown builtin has an output")
	}
}
