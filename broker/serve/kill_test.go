package serve

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// killChildEnv names the task store directory of
// TestSchedulerKillLosesNoAcknowledgedEvent's child.
const killChildEnv = "TETHER_KILL_CHILD_TASKS"

const killNodes = 20

// TestSchedulerKillLosesNoAcknowledgedEvent runs the scheduler with its
// embedded broker in a child process; 20 nodes answer every assignment at
// once with succeeded, each event published until the broker acknowledges
// it, as the agent's outbox does (which then deletes it). Once 200 events
// were acknowledged the child is SIGKILLed, and the task store it leaves
// is opened: a task whose succeeded event the broker acknowledged must be
// finished there. The broker used to acknowledge an event before the
// scheduler had it; it was lost with the process.
func TestSchedulerKillLosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(t, dir)
		return
	}
	dir := t.TempDir()
	store, tmp := filepath.Join(dir, "tasks"), filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSchedulerKillLosesNoAcknowledgedEvent$")
	// TMPDIR: the child's own files stay in this test's directory.
	cmd.Env = append(os.Environ(), killChildEnv+"="+store, "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				urls <- u
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-exited:
		t.Fatalf("child exited: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("child scheduler not ready within 30 s")
	}

	topics, _ := protocol.NewTopics("default")
	pub := siteKey.Public().(ed25519.PublicKey)
	var mu sync.Mutex // guards acked
	acked := map[string]bool{}
	var count atomic.Int64
	for i := range killNodes {
		id := fmt.Sprintf("pi-%02d", i)
		startEagerNode(t, url, id, pub, topics, func(task string) {
			mu.Lock()
			acked[task] = true
			mu.Unlock()
			count.Add(1)
		})
	}
	ops := dial(t, url, "ops@kill", "ops", "ops-pw")
	go func() {
		for i := 0; ; i++ {
			id := fmt.Sprintf("kill-%05d", i)
			b, _ := json.Marshal(task.SubmitRequest{V: 1, RequestID: id, ReplyTo: topics.Reply("ops", id),
				Spec: task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 1}}})
			if ops.Publish(context.Background(), session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: b}) != nil {
				return // the child is gone
			}
		}
	}()
	testenv.Eventually(t, 2*time.Minute, "200 events acknowledged", func() bool { return count.Load() >= 200 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited

	st, ld, _, err := taskengine.OpenStore(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	active := map[string]string{} // task → state, of those not yet moved to finished
	for _, tk := range ld.Active {
		active[tk.Spec.ID] = tk.State
	}
	mu.Lock()
	defer mu.Unlock()
	var lost []string
	for id := range acked {
		state, ok := active[id]
		if fin, err := st.Finished(id); err != nil {
			t.Fatal(err)
		} else if fin != nil {
			state, ok = fin.State, true
		}
		if !ok || state != task.StateSucceeded {
			lost = append(lost, fmt.Sprintf("%s (%q)", id, state))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged succeeded events lost with the scheduler: %v", len(lost), len(acked), lost)
	}
	t.Logf("%d succeeded events acknowledged before the SIGKILL, all committed", len(acked))
}

// killChild is the child: the scheduler on the given task store, its URL
// on stdout, serving until killed.
func killChild(t *testing.T, store string) {
	s := newSiteCfg(t, func(users map[string]string) {
		for i := range killNodes {
			users[fmt.Sprintf("pi-%02d", i)] = "node-pw"
		}
	}, func(c *config.Config) { c.Tasks.Dir = store })
	fmt.Println("URL " + s.url)
	select {}
}

// startEagerNode is a node of 4 slots that answers each assignment at
// once with succeeded, on one seq stream, publishing until acknowledged;
// acked is called with the task once the broker acknowledged its event.
func startEagerNode(t *testing.T, url, id string, pub ed25519.PublicKey, topics protocol.Topics, acked func(task string)) {
	sess := dial(t, url, id, id, "node-pw")
	work := make(chan task.Assignment, 1024)
	if err := sess.Subscribe(context.Background(), topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		if a, err := task.Verify([]ed25519.PublicKey{pub}, env, id, time.Now()); err == nil && a.Op == task.AssignRun {
			work <- a
		}
	}); err != nil {
		t.Fatal(err)
	}
	birth, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, TaskSlots: 4, MemTotal: 4 << 30,
			AgentVersion: "t", Tier: "edge"}})
	if err := sess.Publish(context.Background(), session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: birth}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var seq uint64
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-work:
				seq++
				b, _ := json.Marshal(task.Event{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, Seq: seq, TS: time.Now()},
					Task: a.Task, Attempt: a.Attempt, State: task.EventSucceeded, Result: &task.Result{DurationMS: 1}})
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				err := sess.Publish(pctx, session.Message{Topic: topics.NodeTasks(id), QoS: 1, Payload: b})
				pcancel()
				if err == nil {
					acked(a.Task)
				}
			}
		}
	}()
}
