package httpd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// drainer is the dashboard's feed from a real fleet, as serve wires it.
func drainer(f *fleet.Fleet) func(func(protocol.FleetNode)) {
	return func(fn func(protocol.FleetNode)) {
		f.Drain(fleet.ForDashboard, func(n fleet.Node) { fn(fleet.Row(n)) })
	}
}

// goOffline says node's goodbye to f.
func goOffline(f *fleet.Fleet, node string) {
	h := protocol.Header{V: protocol.Version, Node: node, Instance: "i1", Seq: 9, TS: time.Now().UTC()}
	f.HandleStatus(protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1}, false)
}

func decodeEvent(t *testing.T, b []byte) event {
	t.Helper()
	var ev event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestHubSendsChangesNotTheFleet: at 10,000 nodes a client gets the
// whole fleet once, then per tick only the rows that changed — nothing
// when nothing did.
func TestHubSendsChangesNotTheFleet(t *testing.T) {
	f := testFleet(10000)
	h := newHub(f.Table().Nodes, drainer(f), time.Hour)
	h.step() // what the fleet marked before the hub started
	ch, leave := h.subscribe()
	defer leave()
	snap := decodeEvent(t, <-ch)
	if !snap.Full || len(snap.Nodes) != 10000 || snap.Summary.Nodes != 10000 {
		t.Fatalf("snapshot: full %v, %d rows, summary %+v", snap.Full, len(snap.Nodes), snap.Summary)
	}
	h.step()
	select {
	case b := <-ch:
		t.Fatalf("a tick without changes sent %d bytes", len(b))
	default:
	}
	goOffline(f, "pi-00001")
	h.step()
	b := <-ch
	ev := decodeEvent(t, b)
	if ev.Full || len(ev.Nodes) != 1 || ev.Nodes[0].Node != "pi-00001" || ev.Nodes[0].Online {
		t.Fatalf("delta after one node went offline: %s", b)
	}
	if ev.Summary.Online != snap.Summary.Online-1 {
		t.Errorf("summary online %d, want %d", ev.Summary.Online, snap.Summary.Online-1)
	}
	if len(b) > 1024 {
		t.Errorf("one node's change took %d bytes", len(b))
	}
}

// TestSlowClientIsDropped: a client that stops reading is disconnected
// once it is clientBuffer deltas behind; the others get every delta.
func TestSlowClientIsDropped(t *testing.T) {
	f := testFleet(10)
	h := newHub(f.Table().Nodes, drainer(f), time.Hour)
	h.step()
	slow, leaveSlow := h.subscribe()
	defer leaveSlow()
	fast, leaveFast := h.subscribe()
	defer leaveFast()
	<-fast
	for i := range clientBuffer + 2 {
		h.taskChanged(task.Status{Task: fmt.Sprintf("t%d", i), State: task.StatePending, Updated: time.Now()})
		h.step()
		if ev := decodeEvent(t, <-fast); len(ev.Tasks) != 1 {
			t.Fatalf("delta %d: %d tasks", i, len(ev.Tasks))
		}
	}
	n := 0
	for range slow { // closed: the browser reconnects and starts over
		n++
	}
	if n != clientBuffer+1 {
		t.Errorf("slow client got %d events before it was dropped, want the snapshot and %d deltas", n, clientBuffer)
	}
	if c := h.clientCount(); c != 1 {
		t.Errorf("%d clients, want 1", c)
	}
}

// TestTasksAreBounded: past maxTasks the finished tasks updated longest
// ago go, and the clients are told.
func TestTasksAreBounded(t *testing.T) {
	h := newHub(nil, nil, time.Hour)
	t0 := time.Now()
	for i := range maxTasks + 5 {
		state := task.StateSucceeded
		if i%2 == 0 {
			state = task.StateRunning
		}
		h.taskChanged(task.Status{Task: fmt.Sprintf("t%05d", i), State: state, Updated: t0.Add(time.Duration(i) * time.Second)})
	}
	ch, leave := h.subscribe()
	defer leave()
	<-ch
	h.step()
	ev := decodeEvent(t, <-ch)
	if len(h.tasks) != maxTasks {
		t.Fatalf("%d tasks held, want %d", len(h.tasks), maxTasks)
	}
	want := []string{"t00001", "t00003", "t00005", "t00007", "t00009"}
	if strings.Join(ev.Gone, " ") != strings.Join(want, " ") {
		t.Errorf("dropped %v, want the oldest finished %v", ev.Gone, want)
	}
}

// TestSessionsAndRateLimit: logins are checked, bounded and expire;
// failed ones are rate limited.
func TestSessionsAndRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSessions(func(user, pw string) (Role, error) {
		if pw != "ok" {
			return "", errors.New("wrong user or password")
		}
		return RoleMonitor, nil
	})
	s.now = func() time.Time { return now }
	for range loginBurst {
		if _, _, err := s.start("m", "bad"); err == nil || errors.Is(err, errTooManyLogins) {
			t.Fatalf("bad password: %v", err)
		}
	}
	if _, _, err := s.start("m", "ok"); !errors.Is(err, errTooManyLogins) {
		t.Fatalf("after %d failures: %v, want too many", loginBurst, err)
	}
	now = now.Add(loginRefill)
	id, _, err := s.start("m", "ok")
	if err != nil {
		t.Fatal(err)
	}
	req := func(id string) *http.Request {
		r, _ := http.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
		return r
	}
	if l, ok := s.of(req(id)); !ok || l.role != RoleMonitor {
		t.Fatalf("session: %+v %v", l, ok)
	}
	if _, ok := s.of(req("forged")); ok {
		t.Fatal("an unknown token is a session")
	}
	now = now.Add(sessionTTL)
	if _, ok := s.of(req(id)); ok {
		t.Fatal("an expired session is still valid")
	}
	for range maxSessions + 10 {
		if _, _, err := s.start("m", "ok"); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.byID) != maxSessions || len(s.order) != maxSessions {
		t.Errorf("%d sessions held, want %d", len(s.byID), maxSessions)
	}
}

// TestDashboardHTTP: the page and its assets are served; the stream and
// cancel need a login; a monitor's cancel is refused with a reason, an
// operator's goes to the scheduler; a stream's first event is the whole
// view.
func TestDashboardHTTP(t *testing.T) {
	f := testFleet(3)
	var cancelled []string
	base := start(t, Options{Fleet: f, Dashboard: &DashboardOptions{
		Login: func(user, pw string) (Role, error) {
			if pw != user+"-pw" {
				return "", errors.New("wrong user or password")
			}
			return Role(user), nil
		},
		Changed: drainer(f),
		Cancel: func(_ context.Context, user, id string) error {
			cancelled = append(cancelled, user+":"+id)
			return nil
		},
	}})
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		if code, body := get(t, base+p); code != http.StatusOK || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes", p, code, len(body))
		}
	}
	if code, _ := get(t, base+"/api/events"); code != http.StatusUnauthorized {
		t.Errorf("/api/events without a login: %d", code)
	}
	loginAs := func(user string) *http.Cookie {
		resp, err := http.Post(base+"/api/login", "application/json", strings.NewReader(`{"user":"`+user+`","password":"`+user+`-pw"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == sessionCookie {
				return c
			}
		}
		t.Fatalf("login %s: %d, no cookie", user, resp.StatusCode)
		return nil
	}
	post := func(c *http.Cookie, path string) (int, string) {
		r, _ := http.NewRequest("POST", base+path, nil)
		r.AddCookie(c)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	mon, op := loginAs("monitor"), loginAs("operator")
	if code, body := post(mon, "/api/tasks/job-1/cancel"); code != http.StatusForbidden || !strings.Contains(body, "only operators may cancel") {
		t.Errorf("monitor's cancel: %d %s", code, body)
	}
	if code, body := post(op, "/api/tasks/job-1/cancel"); code != http.StatusOK {
		t.Errorf("operator's cancel: %d %s", code, body)
	}
	if strings.Join(cancelled, " ") != "operator:job-1" {
		t.Errorf("cancels asked of the scheduler: %v", cancelled)
	}

	r, _ := http.NewRequest("GET", base+"/api/events", nil)
	r.AddCookie(mon)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			ev := decodeEvent(t, []byte(data))
			if !ev.Full || len(ev.Nodes) != 3 {
				t.Errorf("first event: full %v, %d nodes", ev.Full, len(ev.Nodes))
			}
			break
		}
	}
}

// BenchmarkHubTick10k: one tick of the live view at 10,000 nodes with 100
// clients, 50 nodes changed: the drain, the summary pass and one shared
// delta, handed to every client.
func BenchmarkHubTick10k(b *testing.B) {
	f := testFleet(10000)
	h := newHub(f.Table().Nodes, drainer(f), time.Hour)
	h.step()
	var chans []<-chan []byte
	for range 100 {
		ch, leave := h.subscribe()
		defer leave()
		<-ch
		chans = append(chans, ch)
	}
	var sent int
	b.ResetTimer()
	for i := range b.N {
		for j := range 50 {
			node := fmt.Sprintf("pi-%05d", (i*50+j)%10000)
			hd := protocol.Header{V: protocol.Version, Node: node, Instance: "i1", Seq: uint64(10 + i), TS: time.Now().UTC()}
			f.HandleMetrics(protocol.Metrics{Header: hd, CPU: protocol.CPU{Total: float64(i % 100)}, Mem: protocol.Mem{Total: 1000, Used: 400, Available: 600, Percent: 40}})
		}
		h.step()
		for _, ch := range chans {
			sent += len(<-ch)
		}
	}
	b.ReportMetric(float64(sent)/float64(b.N)/100, "bytes/client/tick")
}

// TestDeposedStatusDoesNotReplace: a task's status from a deposed
// scheduler (a lower epoch) arriving after its successor's does not
// replace it on the dashboard, however late its time; the successor's
// next one does.
func TestDeposedStatusDoesNotReplace(t *testing.T) {
	f := testFleet(1)
	h := newHub(f.Table().Nodes, drainer(f), time.Hour)
	h.step()
	t0 := time.Now()
	h.taskChanged(task.Status{Task: "t1", State: task.StateRunning, Updated: t0, Epoch: 9})
	h.step()
	h.taskChanged(task.Status{Task: "t1", State: task.StatePending, Updated: t0.Add(time.Second), Epoch: 7})
	h.step()
	if st := h.tasks["t1"]; st.Epoch != 9 || st.State != task.StateRunning {
		t.Fatalf("dashboard holds %+v, want epoch 9's running status", st)
	}
	h.taskChanged(task.Status{Task: "t1", State: task.StateSucceeded, Updated: t0.Add(2 * time.Second), Epoch: 9})
	h.step()
	if st := h.tasks["t1"]; st.State != task.StateSucceeded {
		t.Fatalf("dashboard holds %+v, want the successor's newer status", st)
	}
}
