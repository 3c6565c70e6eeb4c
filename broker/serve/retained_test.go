package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// outsideBroker runs a broker of its own (the embedded one, as an external
// broker would be), which keeps retained messages while schedulers come
// and go. It returns its URL.
func outsideBroker(t *testing.T) string {
	t.Helper()
	_, url := mqttdtest.Start(t, mqttd.Options{AllowAnonymous: true, Region: "default",
		SchedulerUsers: []string{"tether-scheduler"}, OperatorUsers: []string{"ops"}})
	return url
}

// startScheduler runs serve with cfg until the returned stop is called.
func startScheduler(t *testing.T, cfg config.Config) (stop func()) {
	t.Helper()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler), Version: "test", OnReady: func(u string) { ready <- u }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestServeRefusesRetainedRequests: a submit and a cancel published with
// the retain flag before the scheduler starts are refused with a reply
// that says why, and cleared: no task is made, and a restarted scheduler
// neither makes one nor answers them again.
func TestServeRefusesRetainedRequests(t *testing.T) {
	t.Parallel()
	url := outsideBroker(t)
	topics, _ := protocol.NewTopics("default")
	ops := dial(t, url, "ops@t", "ops", "")
	replies := listen(t, ops, topics.Replies("ops"))
	spec := task.Spec{ID: "retained-1", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 10}}
	for _, m := range []struct {
		topic string
		v     any
	}{
		{topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "rs", ReplyTo: topics.Reply("ops", "rs"), Spec: spec}},
		{topics.TaskControl(), task.ControlRequest{V: 1, RequestID: "rc", ReplyTo: topics.Reply("ops", "rc"), Op: task.OpCancel, Task: "retained-1"}},
	} {
		b, err := json.Marshal(m.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := ops.Publish(context.Background(), session.Message{Topic: m.topic, QoS: 1, Retained: true, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	cfg := config.Default()
	cfg.MQTTURL = []string{url}
	cfg.Password = "any"
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks.Dir = filepath.Join(dir, "tasks")
	stop := startScheduler(t, cfg)
	replyTo := func(id string) []task.Reply {
		var out []task.Reply
		for _, m := range replies.all() {
			if m.Topic == topics.Reply("ops", id) {
				if r, err := task.DecodeReply(m.Payload); err == nil {
					out = append(out, r)
				}
			}
		}
		return out
	}
	for _, id := range []string{"rs", "rc"} {
		testenv.Eventually(t, 5*time.Second, "the refusal of retained request "+id, func() bool { return len(replyTo(id)) > 0 })
		if r := replyTo(id)[0]; r.OK || !strings.Contains(r.Error, "retained request is refused") {
			t.Fatalf("reply to the retained request %s: %+v", id, r)
		}
	}

	// A restart hears no retained request again: a request made after
	// it is answered, and nothing more to the retained ones.
	stop()
	stop = startScheduler(t, cfg)
	probe := task.Spec{ID: "probe", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 10}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "probe", ReplyTo: topics.Reply("ops", "probe"), Spec: probe})
	testenv.Eventually(t, 5*time.Second, "a probe submitted after the restart answered", func() bool { return len(replyTo("probe")) > 0 })
	if r := replyTo("probe")[0]; !r.OK {
		t.Fatalf("probe refused: %+v", r)
	}
	stop()
	if n, m := len(replyTo("rs")), len(replyTo("rc")); n != 1 || m != 1 {
		t.Fatalf("the retained requests were answered %d and %d times, want once each", n, m)
	}

	st, ld, _, err := taskengine.OpenStore(cfg.Tasks.Dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for _, tk := range ld.Active {
		ids = append(ids, tk.Spec.ID)
	}
	if len(ids) != 1 || ids[0] != "probe" {
		t.Fatalf("tasks in the store %v, want only the probe", ids)
	}
	if f, err := st.Finished("retained-1"); err != nil || f != nil {
		t.Fatalf("finished retained-1: %v, %v", f, err)
	}
}
