package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/mqtttest"
)

// TestWedgedStoreStopsTheAgentAndLosesNothing runs a real agent process
// with its data directory on a tmpfs, reporting every 100 ms and running
// four checkpointing tasks, through a link the test cuts so that records
// the store committed wait in its outbox. Then another process takes the
// filesystem's last bytes at the moment Badger opens its next
// write-ahead log (fillTrap) — after the agent's look at the free space,
// before Badger's allocation — so the store wedges (pkg/kv's ErrWedged),
// as it does in the field when something else on the device fills the
// disk. It checks that:
//
//   - the agent stops by itself, status 1, saying "store: …" and why, and
//     does not crash (no panic, no SIGBUS, no fatal error);
//   - started again with the space back and the link healed, it opens its
//     store, which holds every record delivered before the wedge (its
//     last seq is at least theirs: nothing delivered is handed out again)
//     and the records that waited in the outbox;
//   - every seq up to that last one reaches the broker, none twice with
//     different contents, and the agent carries on reporting after them.
func TestWedgedStoreStopsTheAgentAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an agent process until its store wedges: not in -short")
	}
	const node, region = "pi-wedge", "r1"
	mnt := testenv.MountTmpfs(t, "48m")
	data := filepath.Join(mnt, "data")
	b := newRecordingBroker(t, region, node)
	link := testenv.NewCutProxy(t, b.addr)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "agent.pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--broker", link.URL(), "--node", node, "--region", region, "--data-dir", data,
		"--password-file", pw, "--sample-interval", "100ms", "--send-all", "--heartbeat", "2s",
		"--task-slots", "4", "--scheduler-key", base64.StdEncoding.EncodeToString(pub)}

	first := startAgentProcess(t, args)
	testenv.Eventually(t, 30*time.Second, "metrics from the agent", func() bool { return b.count("metrics") >= 3 })
	// Four tasks that checkpoint every millisecond unit keep the store's
	// memtable filling: each checkpoint is a journal commit.
	for i := range 4 {
		spec := task.Spec{ID: fmt.Sprintf("wedge-%d", i), Kind: task.KindBuiltin, Checkpointable: true,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 1_000_000, UnitMS: 1, CheckpointEvery: 1}}
		now := time.Now()
		env, err := task.Sign(priv, task.Assignment{V: task.Version, Op: task.AssignRun, Node: node, Task: spec.ID,
			Attempt: 1, Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour), Spec: &spec})
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := json.Marshal(env)
		if err := b.srv.Publish("tether/v1/"+region+"/nodes/"+node+"/cmd/task", msg, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "checkpoints from the tasks", func() bool { return b.count("tasks") >= 20 })

	// The link goes down: what the store commits from now on waits in it.
	link.Cut()
	delivered := b.maxSeq()
	time.Sleep(time.Second) // kept: a second of the agent journaling with its link down, the backlog the test needs
	filler := filepath.Join(mnt, "filler")
	var fillErr error
	trap := newFillTrap(t, filepath.Join(data, "store"), ".mem", func() { fillErr = fillFilesystem(filler) })
	armed := time.Now()
	trap.Arm()
	select {
	case path := <-trap.Fired():
		if fillErr != nil {
			t.Fatalf("filling the disk: %v", fillErr)
		}
		t.Logf("the disk filled as Badger opened %s, %v after the trap was armed", filepath.Base(path), time.Since(armed).Round(time.Millisecond))
	case <-time.After(3 * time.Minute):
		t.Fatalf("Badger opened no new write-ahead log in 3 minutes:\n%s", first.out.String())
	}

	// The agent stops by itself, saying why, without crashing.
	if err := first.wait(60 * time.Second); err == nil || first.exitCode() != 1 {
		t.Fatalf("the agent whose store wedged ended with %v (status %d), want status 1:\n%s", err, first.exitCode(), first.out.String())
	}
	out := first.out.String()
	for _, want := range []string{"tether-agent: store: store takes no writes until it is opened again",
		"the disk filled under the store, which takes no more writes"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent did not say %q:\n%s", want, tail(out, 4000))
		}
	}
	noCrash(t, out)

	// Space comes back (systemd restarts it): the store opens and keeps
	// every record.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	link.Heal()
	second := startAgentProcess(t, args)
	var last, pending uint64
	testenv.Eventually(t, 60*time.Second, "the restarted agent opening its store", func() bool {
		m := regexp.MustCompile(`msg="store opened" .*last_seq=(\d+) pending=(\d+)`).FindStringSubmatch(second.out.String())
		if m == nil {
			return false
		}
		last, _ = strconv.ParseUint(m[1], 10, 64)
		pending, _ = strconv.ParseUint(m[2], 10, 64)
		return true
	})
	t.Logf("delivered up to seq %d before the cut; reopened with last seq %d, %d records pending", delivered, last, pending)
	if last < delivered {
		t.Fatalf("the reopened store's last seq is %d, below %d delivered before the wedge: committed records were lost", last, delivered)
	}
	if pending == 0 || last <= delivered {
		t.Fatalf("nothing waited in the outbox across the wedge (last seq %d, delivered %d, pending %d): the test did not test", last, delivered, pending)
	}
	testenv.Eventually(t, 60*time.Second, "every seq up to the reopened store's last, then later ones", func() bool {
		return len(b.missing(last)) == 0 && b.maxSeq() > last+5
	})
	if c := b.conflicts(); len(c) > 0 {
		t.Fatalf("seqs delivered twice with different contents (handed out again after the wedge): %v", c)
	}
	second.signal(syscall.SIGTERM)
	if err := second.wait(30 * time.Second); err != nil {
		t.Fatalf("the restarted agent did not stop cleanly: %v\n%s", err, tail(second.out.String(), 4000))
	}
	noCrash(t, second.out.String())
}

// noCrash fails the test if out shows a Go crash.
func noCrash(t *testing.T, out string) {
	t.Helper()
	for _, crash := range []string{"panic:", "SIGBUS", "fatal error:", "WARNING: DATA RACE"} {
		if strings.Contains(out, crash) {
			t.Fatalf("the agent crashed (%s):\n%s", crash, tail(out, 8000))
		}
	}
}

// fillFilesystem writes path until its filesystem has no byte left.
func fillFilesystem(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return err
			}
			chunk = chunk[:len(chunk)/2] // the last blocks, down to a byte
		}
	}
	return nil
}

// agentProcess is this test binary run as tether-agent (TestMain).
type agentProcess struct {
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{}
	err  error
}

func startAgentProcess(t *testing.T, args []string) *agentProcess {
	t.Helper()
	p := &agentProcess{out: new(testenv.SyncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	p.cmd.Env = append(os.Environ(), envAgentMain+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the agent to end and returns how it ended.
func (p *agentProcess) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

func (p *agentProcess) exitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

func (p *agentProcess) signal(s os.Signal) { _ = p.cmd.Process.Signal(s) }

// recordingBroker is an in-process MQTT broker that accepts anyone and
// records every record of one node by seq: its metrics and task events.
type recordingBroker struct {
	srv  *mochi.Server
	addr string

	mu       sync.Mutex
	ts       map[uint64]string // seq → the record's timestamp
	kinds    map[string]int    // records received by topic kind
	conflict []uint64          // seqs received with two timestamps
}

func newRecordingBroker(t *testing.T, region, node string) *recordingBroker {
	t.Helper()
	srv, url := mqtttest.Start(t)
	b := &recordingBroker{srv: srv, addr: strings.TrimPrefix(url, "tcp://"), ts: map[uint64]string{}, kinds: map[string]int{}}
	prefix := "tether/v1/" + region + "/nodes/" + node + "/"
	for _, kind := range []string{"metrics", "tasks"} {
		if err := srv.Subscribe(prefix+kind, 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
			var r struct {
				Seq uint64 `json:"seq"`
				TS  string `json:"ts"`
			}
			if err := json.Unmarshal(pk.Payload, &r); err != nil || r.Seq == 0 {
				t.Errorf("a record without a seq on %s: %v: %.200s", pk.TopicName, err, pk.Payload)
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			b.kinds[kind]++
			if old, ok := b.ts[r.Seq]; ok && old != r.TS {
				b.conflict = append(b.conflict, r.Seq)
			}
			b.ts[r.Seq] = r.TS
		}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *recordingBroker) count(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kinds[kind]
}

func (b *recordingBroker) maxSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var m uint64
	for s := range b.ts {
		m = max(m, s)
	}
	return m
}

// missing returns the seqs from 1 to last not received.
func (b *recordingBroker) missing(last uint64) []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []uint64
	for s := uint64(1); s <= last; s++ {
		if _, ok := b.ts[s]; !ok {
			out = append(out, s)
		}
	}
	return out
}

func (b *recordingBroker) conflicts() []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]uint64(nil), b.conflict...)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
