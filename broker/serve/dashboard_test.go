package serve

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// browser starts headless Chromium (the Debian chromium package, which
// scripts/install-deps.sh installs; under CI=true a missing one fails the
// test) and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testenv.RequireTool(t, "chromium", "chromium-browser", "google-chrome")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first run starts the browser, which lives as long as that
	// run's context: ctx, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// do runs browser steps with a deadline, failing the test with what.
func do(t *testing.T, ctx context.Context, what string, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one browser action with a deadline and returns its value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func login(user, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(`#login`),
		chromedp.SetValue(`#user`, user),
		chromedp.SetValue(`#password`, password),
		chromedp.Click(`#login-submit`),
	)
}

// postStatus POSTs from the page, as its script would, and returns the
// HTTP status.
func postStatus(url string) chromedp.Action[int] {
	return chromedp.Evaluate[int](`fetch(`+jsString(url)+`, {method: "POST"}).then(r => r.status)`, chromedp.EvalAwaitPromise)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDashboardInBrowser drives the web dashboard in headless Chromium
// against a real scheduler with its embedded broker: a wrong password is
// refused; a monitor sees the nodes with their measurements and version,
// sees a node go offline within 3 s of its goodbye, and can neither click
// nor post a cancel; an operator cancels a task, and the scheduler's
// retained status says cancelled.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	httpAddr := freeAddr(t)
	url, _ := startServe(t, map[string]string{"monitor": "mon-pw", "operator": "op-pw", "pi-a": "node-pw", "pi-b": "node-pw"},
		func(c *config.Config) { c.HTTP.Listen = httpAddr })
	topics, _ := protocol.NewTopics("default")
	nodes := map[string]*session.Session{}
	for i, id := range []string{"pi-a", "pi-b"} {
		node := dial(t, url, id, id, "node-pw")
		nodes[id] = node
		h := protocol.Header{V: 1, Node: id, Instance: "i1", TS: time.Now()}
		publishRetained(t, node, topics.NodeStatus(id), protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
			Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "1.2.3", Tier: "edge", Model: "Raspberry Pi 5"}})
		h.Seq = 1
		publishJSON(t, node, topics.NodeMetrics(id), protocol.Metrics{Header: h, CPU: protocol.CPU{Total: 10 + float64(i)},
			Mem: protocol.Mem{Total: 100, Used: 40, Available: 60, Percent: 40}, TempC: map[string]float64{"cpu": 55.5}})
	}
	// A task that stays pending: the scheduler has no signing key.
	ops := dial(t, url, "operator@t", "operator", "op-pw")
	statuses := listen(t, ops, topics.AllTaskStatus())
	spec := task.Spec{ID: "job-1", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 10}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("operator", "r1"), Spec: spec})

	ctx := browser(t)
	base := "http://" + httpAddr + "/"
	do(t, ctx, "wrong password", 20*time.Second, chromedp.Navigate(base), login("monitor", "nope"),
		chromedp.WaitVisible(`#login-error:not(:empty)`))
	errText := value(t, ctx, "login error", chromedp.Text(`#login-error`))
	if !strings.Contains(errText, "wrong user or password") {
		t.Errorf("wrong password says %q", errText)
	}

	// The monitor.
	do(t, ctx, "monitor sees the fleet", 20*time.Second, login("monitor", "mon-pw"),
		chromedp.WaitVisible(`tr[data-node="pi-a"] td.status.online`),
		chromedp.WaitVisible(`tr[data-node="pi-b"] td.status.online`),
		chromedp.WaitVisible(`tr[data-task="job-1"]`),
		chromedp.WaitNotVisible(`#login`),
	)
	cpu := value(t, ctx, "pi-b's CPU", chromedp.Text(`tr[data-node="pi-b"] td:nth-child(3)`))
	temp := value(t, ctx, "pi-b's temperature", chromedp.Text(`tr[data-node="pi-b"] td:nth-child(5)`))
	version := value(t, ctx, "pi-b's version", chromedp.Text(`tr[data-node="pi-b"] td:nth-child(7)`))
	who := value(t, ctx, "who", chromedp.Text(`#who`))
	if cpu != "11.0" || temp != "55.5" || version != "1.2.3" || who != "monitor (monitor)" {
		t.Errorf("pi-b's row: cpu %q temp %q version %q; logged in as %q", cpu, temp, version, who)
	}

	h := protocol.Header{V: 1, Node: "pi-b", Instance: "i1", Seq: 2, TS: time.Now()}
	publishRetained(t, nodes["pi-b"], topics.NodeStatus("pi-b"), protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1})
	said := time.Now()
	do(t, ctx, "pi-b offline within 3 s", 3*time.Second, chromedp.WaitVisible(`tr[data-node="pi-b"] td.status.offline`))
	t.Logf("pi-b shown offline %v after its goodbye", time.Since(said).Round(time.Millisecond))

	disabled := value(t, ctx, "monitor's cancel button",
		chromedp.Evaluate[bool](`document.querySelector('tr[data-task="job-1"] button.cancel').disabled`))
	code := value(t, ctx, "monitor's cancel", postStatus(base+"api/tasks/job-1/cancel"))
	if !disabled || code != 403 {
		t.Errorf("monitor: cancel button disabled %v, POST cancel answered %d (want disabled, 403)", disabled, code)
	}

	// The operator.
	do(t, ctx, "operator cancels", 20*time.Second,
		chromedp.Click(`#logout`), login("operator", "op-pw"),
		chromedp.WaitVisible(`tr[data-task="job-1"] button.cancel:enabled`),
		chromedp.Click(`tr[data-task="job-1"] button.cancel`),
		chromedp.WaitVisible(`tr[data-task="job-1"] td.state`),
		chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-task="job-1"] td.state').textContent.startsWith("cancelled")`,
			chromedp.WithPollingTimeout(15*time.Second)),
	)
	testenv.Eventually(t, 5*time.Second, "job-1's retained status cancelled", func() bool {
		for _, m := range statuses.all() {
			if st, err := task.DecodeStatus(m.Payload); err == nil && st.Task == "job-1" && st.State == task.StateCancelled {
				return true
			}
		}
		return false
	})
}

func publishRetained(t *testing.T, sess *session.Session, topic string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Publish(context.Background(), session.Message{Topic: topic, QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}
}
