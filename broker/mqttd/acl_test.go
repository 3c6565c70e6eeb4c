package mqttd

import (
	"strings"
	"testing"
)

const testRegion = "eu-1"

func testPolicy() *policy {
	return newPolicy(testRegion, []string{"scheduler"}, []string{"monitor", "watcher"}, []string{"operator", "operator2"})
}

// aclCases is the matcher's table; FuzzACL is seeded from it.
var aclCases = []struct {
	user  string
	topic string
	write bool
	want  bool
}{
	// Nodes: publish.
	{"node-a", "tether/v1/eu-1/nodes/node-a/status", true, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/metrics", true, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/tasks", true, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/blob", true, true},
	{"node-a", "tether/v1/eu-1/nodes/node-b/blob", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/blob/x", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/blob", false, false},
	// Only the documented topics (docs/protocol.md), nothing below them.
	{"node-a", "tether/v1/eu-1/nodes/node-a/tasks/t1/events", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/junk/1", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/status/x", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/metricsx", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd/rebirth", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-b/status", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-ab/status", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node/status", true, false},
	{"node-a", "tether/v1/eu-2/nodes/node-a/status", true, false},
	{"node-a", "tether/v1/eu-1/scheduler/status", true, false},
	{"node-a", "tether/v1/eu-1/fleet/summary", true, false},
	{"node-a", "tether/v1/eu-1/nodes/+/status", true, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/#", true, false},
	{"node-a", "$SYS/broker/uptime", true, false},
	{"node-a", "/tether/v1/eu-1/nodes/node-a/status", true, false},
	// Nodes: subscribe.
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd/#", false, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd/+", false, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd/rebirth", false, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmd", false, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/status", false, true},
	{"node-a", "$share/g/tether/v1/eu-1/nodes/node-a/cmd/#", false, true},
	{"node-a", "tether/v1/eu-1/nodes/node-a/metrics", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/#", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/+", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/+/rebirth", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-b/cmd/#", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-b/status", false, false},
	{"node-a", "tether/v1/eu-1/nodes/+/cmd/#", false, false},
	{"node-a", "tether/v1/+/nodes/node-a/cmd/#", false, false},
	{"node-a", "tether/v1/+/nodes/+/cmd/#", false, false},
	{"node-a", "+/v1/eu-1/nodes/node-a/cmd/#", false, false},
	{"node-a", "tether/v1/eu-1/#", false, false},
	{"node-a", "tether/#", false, false},
	{"node-a", "#", false, false},
	{"node-a", "+/+/+/+/+/+/+", false, false},
	{"node-a", "$SYS/#", false, false},
	{"node-a", "$share/g/#", false, false},
	{"node-a", "$share//tether/v1/eu-1/nodes/node-a/cmd/#", false, false},
	{"node-a", "$share/+/tether/v1/eu-1/nodes/node-a/cmd/#", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/cmdx", false, false},
	{"node-a", "tether/v1/eu-1/nodes/node-a/statusx", false, false},
	// Scheduler.
	{"scheduler", "tether/v1/eu-1/nodes/node-a/cmd/rebirth", true, true},
	{"scheduler", "tether/v1/eu-1/fleet/summary", true, true},
	{"scheduler", "tether/v1/eu-1/#", false, true},
	{"scheduler", "tether/v1/eu-1/nodes/+/status", false, true},
	{"scheduler", "$share/sched/tether/v1/eu-1/nodes/+/metrics", false, true},
	{"scheduler", "tether/v1/eu-2/fleet/summary", true, false},
	{"scheduler", "tether/v1/eu-2/#", false, false},
	{"scheduler", "tether/v1/+/nodes/+/status", false, false},
	{"scheduler", "tether/v1/#", false, false},
	{"scheduler", "tether/v1/eu-10/#", false, false},
	{"scheduler", "#", false, false},
	{"scheduler", "$SYS/broker/x", true, false},
	// Monitors (and anonymous clients, user "").
	{"monitor", "tether/v1/#", false, true},
	{"monitor", "tether/v1/+/nodes/+/status", false, true},
	{"monitor", "tether/v1/eu-2/fleet/nodes", false, true},
	{"monitor", "tether/#", false, false},
	{"monitor", "#", false, false},
	{"monitor", "+/v1/#", false, false},
	{"monitor", "tether/v10/x", false, false},
	{"monitor", "$SYS/#", false, false},
	{"monitor", "tether/v1/eu-1/nodes/node-a/cmd/rebirth", true, false},
	{"monitor", "tether/v1/eu-1/fleet/summary", true, false},
	// Blob frames are task data, not for watchers: refused as names and as
	// filters naming only them; wider filters are granted and the frames
	// held back on delivery.
	{"monitor", "tether/v1/eu-1/nodes/node-a/blob", false, false},
	{"monitor", "tether/v1/eu-1/nodes/node-a/cmd/blob", false, false},
	{"monitor", "tether/v1/+/nodes/+/blob", false, false},
	{"monitor", "tether/v1/eu-2/nodes/+/cmd/blob", false, false},
	{"monitor", "$share/g/tether/v1/eu-1/nodes/node-a/blob", false, false},
	{"monitor", "tether/v1/eu-1/nodes/node-a/blobx", false, true},
	{"monitor", "tether/v1/eu-1/nodes/node-a/cmd/blob/x", false, true},
	{"monitor", "tether/v1/eu-1/nodes/node-a/cmd/#", false, true},
	{"monitor", "tether/v1/eu-1/nodes/node-a/+", false, true},
	{"operator", "tether/v1/eu-1/nodes/node-a/blob", false, false},
	{"operator", "tether/v1/eu-1/nodes/node-a/cmd/blob", false, false},
	{"", "tether/v1/eu-1/nodes/node-a/blob", false, false},
	{"scheduler", "tether/v1/eu-1/nodes/node-a/blob", false, true},
	{"scheduler", "tether/v1/eu-1/nodes/node-a/cmd/blob", true, true},
	// Operators: monitors that may submit and control tasks.
	{"operator", "tether/v1/eu-1/tasks/submit", true, true},
	{"operator", "tether/v1/eu-1/tasks/control", true, true},
	{"operator", "tether/v1/eu-2/tasks/submit", true, false},
	{"operator", "tether/v1/eu-1/tasks/submit/x", true, false},
	{"operator", "tether/v1/eu-1/tasks/status/t1", true, false},
	{"operator", "tether/v1/eu-1/nodes/node-a/cmd/task", true, false},
	{"operator", "tether/v1/eu-1/replies/operator/r1", true, false},
	{"operator", "tether/v1/#", false, true},
	{"operator", "tether/v1/eu-1/replies/operator/#", false, true},
	{"operator", "#", false, false},
	{"", "tether/v1/#", false, true},
	{"", "tether/v1/eu-1/fleet/summary", true, false},
	// An operator's own blob frames (uploads and downloads): its own
	// topics only; nobody else but the scheduler reads them.
	{"operator", "tether/v1/eu-1/operators/operator/blob", true, true},
	{"operator", "tether/v1/eu-1/operators/operator/cmd/blob", false, true},
	{"operator", "tether/v1/eu-1/operators/operator/blob", false, false},
	{"operator", "tether/v1/eu-1/operators/operator/cmd/blob", true, false},
	{"operator", "tether/v1/eu-1/operators/operator2/blob", true, false},
	{"operator", "tether/v1/eu-1/operators/operator2/cmd/blob", false, false},
	{"operator", "tether/v1/eu-1/operators/+/cmd/blob", false, false},
	{"operator", "tether/v1/eu-2/operators/operator/blob", true, false},
	{"operator", "tether/v1/eu-1/operators/operator/blob/x", true, false},
	{"operator", "tether/v1/eu-1/operators/operatorx/blob", true, false},
	{"operator", "tether/v1/eu-1/operators/operator/x", true, false},
	{"operator2", "tether/v1/eu-1/operators/operator2/blob", true, true},
	{"operator2", "tether/v1/eu-1/operators/operator/cmd/blob", false, false},
	{"monitor", "tether/v1/eu-1/operators/operator/blob", false, false},
	{"monitor", "tether/v1/eu-1/operators/operator/cmd/blob", false, false},
	{"monitor", "tether/v1/+/operators/+/cmd/blob", false, false},
	{"monitor", "tether/v1/eu-1/operators/operator/blob", true, false},
	{"node-a", "tether/v1/eu-1/operators/node-a/blob", true, false},
	{"node-a", "tether/v1/eu-1/operators/node-a/cmd/blob", false, false},
	{"scheduler", "tether/v1/eu-1/operators/+/blob", false, true},
	{"scheduler", "tether/v1/eu-1/operators/operator/cmd/blob", true, true},
}

func TestPolicy(t *testing.T) {
	p := testPolicy()
	for _, tt := range aclCases {
		r := p.roleOf(tt.user)
		if got := p.allowed(r, tt.user, tt.topic, tt.write); got != tt.want {
			op := "read"
			if tt.write {
				op = "write"
			}
			t.Errorf("%s (%v) %s %q = %v, want %v", tt.user, r, op, tt.topic, got, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	p := testPolicy()
	for user, want := range map[string]role{"scheduler": roleScheduler, "monitor": roleMonitor, "watcher": roleMonitor, "": roleMonitor, "node-a": roleNode, "operator": roleOperator} {
		if got := p.roleOf(user); got != want {
			t.Errorf("roleOf(%q) = %v, want %v", user, got, want)
		}
	}
}

// matches is MQTT topic matching written from the spec [MQTT-4.7], as an
// independent reference for the fuzzer.
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(filter, "$") {
		return false // [MQTT-4.7.2-1]
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, lv := range f {
		if lv == "#" {
			return i == len(f)-1
		}
		if i >= len(tp) {
			return false
		}
		if lv != "+" && lv != tp[i] {
			return false
		}
	}
	return len(f) == len(tp)
}

func TestMatches(t *testing.T) {
	for _, tt := range []struct {
		f, t string
		want bool
	}{
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/+", "a/b", true}, {"a/+", "a", false},
		{"+/b", "a/b", true}, {"#", "$SYS/x", false}, {"a/b", "a/b/c", false}, {"a//b", "a//b", true},
	} {
		if got := matches(tt.f, tt.t); got != tt.want {
			t.Errorf("matches(%q, %q) = %v", tt.f, tt.t, got)
		}
	}
}

// nodeMayRead is the independent statement of what node n may receive:
// its own commands and its own status, nothing else.
func nodeMayRead(n, topic string) bool {
	l := strings.Split(topic, "/")
	if len(l) < 6 || l[0] != "tether" || l[1] != "v1" || l[2] != testRegion || l[3] != "nodes" || l[4] != n {
		return false
	}
	return (len(l) == 6 && (l[5] == "status" || l[5] == "cmd")) || (len(l) > 6 && l[5] == "cmd")
}

// isBlobFrameTopic is the independent statement of the topic names blob
// frames travel on: tether/v1/R/nodes/N/blob and tether/v1/R/nodes/N/cmd/blob.
func isBlobFrameTopic(topic string) bool {
	l := strings.Split(topic, "/")
	if strings.ContainsAny(topic, "+#") || len(l) < 6 || l[0] != "tether" || l[1] != "v1" || l[3] != "nodes" {
		return false
	}
	return (len(l) == 6 && l[5] == "blob") || (len(l) == 7 && l[5] == "cmd" && l[6] == "blob")
}

// witnesses returns concrete topics a filter matches: each '+' and '#'
// replaced by values chosen to escape a node's subtree.
func witnesses(filter string) []string {
	vals := []string{"node-b", "node-a", "cmd", "status", "metrics", "eu-1", "eu-2", "nodes", "tether", "v1", "", "x"}
	tails := []string{"", "/x", "/cmd/rebirth", "/node-b/cmd/x", "/nodes/node-b/status", "/v1/eu-1/nodes/node-b/cmd/x"}
	var out []string
	for k := range vals {
		levels := strings.Split(filter, "/")
		var b strings.Builder
		for i, lv := range levels {
			switch lv {
			case "+":
				lv = vals[(k+i)%len(vals)]
			case "#":
				// '#' also matches the parent level: drop the separator.
				s := b.String()
				b.Reset()
				b.WriteString(strings.TrimSuffix(s, "/"))
				b.WriteString(tails[(k+i)%len(tails)])
				continue
			}
			b.WriteString(lv)
			if i < len(levels)-1 {
				b.WriteString("/")
			}
		}
		if w := b.String(); matches(filter, w) {
			out = append(out, w)
		}
	}
	return out
}

var probeTopics = []string{
	"tether/v1/eu-1/nodes/node-b/cmd/rebirth",
	"tether/v1/eu-1/nodes/node-b/status",
	"tether/v1/eu-1/nodes/node-a/metrics",
	"tether/v1/eu-1/nodes/node-a/tasks/t",
	"tether/v1/eu-1/scheduler/status",
	"tether/v1/eu-1/fleet/nodes",
	"tether/v1/eu-2/nodes/node-a/cmd/rebirth",
	"tether/v1/eu-2/fleet/summary",
	"tether/v2/eu-1/nodes/node-a/cmd/rebirth",
	"$SYS/broker/uptime",
	"other",
}

// FuzzACL checks the policy's invariants on arbitrary filters and topics:
//   - a node is never granted a filter that matches a topic outside its own
//     commands and status (another node's, another region's, $SYS…);
//   - a node may publish only below its own node topic, never to cmd;
//   - a monitor never publishes; a monitor's and a scheduler's filters stay
//     inside tether/v1/ and tether/v1/<region>/ respectively;
//   - nothing with a wildcard is ever writable;
//   - a monitor or operator never receives a blob frame.
func FuzzACL(f *testing.F) {
	for _, c := range aclCases {
		f.Add(c.topic)
	}
	// Junk a node has published or subscribed to.
	for _, s := range []string{"tether/v1/eu-1/nodes/node-a/junk/7", "$SYS/#", "$SYS/broker/load", "tether/v1/eu-1/tasks/submit",
		"tether/v1/eu-1/nodes/node-a/cmd/+", "$share/g/tether/v1/eu-1/nodes/+/status", "tether/v1/eu-1/nodes/node-a/status/\x00"} {
		f.Add(s)
	}
	p := testPolicy()
	f.Fuzz(func(t *testing.T, topic string) {
		filter, ok := stripShare(topic)
		if !ok {
			filter = topic
		}
		if p.allowed(roleNode, "node-a", topic, false) {
			for _, w := range append(witnesses(filter), probeTopics...) {
				if matches(filter, w) && !nodeMayRead("node-a", w) {
					t.Fatalf("node-a granted %q, which matches %q", topic, w)
				}
			}
		}
		if p.allowed(roleNode, "node-a", topic, true) {
			l := strings.Split(topic, "/")
			if strings.ContainsAny(topic, "+#") || len(l) < 6 || strings.Join(l[:5], "/") != "tether/v1/eu-1/nodes/node-a" || l[5] == "cmd" || l[5] == "" {
				t.Fatalf("node-a may publish to %q", topic)
			}
		}
		if p.allowed(roleMonitor, "monitor", topic, true) || p.allowed(roleMonitor, "", topic, true) {
			t.Fatalf("monitor may publish to %q", topic)
		}
		if isBlobFrameTopic(topic) && (p.allowed(roleMonitor, "monitor", topic, false) || p.allowed(roleOperator, "operator", topic, false)) {
			t.Fatalf("a watcher may receive blob frames on %q", topic)
		}
		if p.allowed(roleScheduler, "scheduler", topic, true) && strings.ContainsAny(topic, "+#") {
			t.Fatalf("scheduler may publish to wildcard %q", topic)
		}
		for _, c := range []struct {
			r      role
			user   string
			inside string
		}{{roleMonitor, "monitor", "tether/v1"}, {roleScheduler, "scheduler", "tether/v1/eu-1"}} {
			if !p.allowed(c.r, c.user, topic, false) {
				continue
			}
			for _, w := range append(witnesses(filter), probeTopics...) {
				if matches(filter, w) && w != c.inside && !strings.HasPrefix(w, c.inside+"/") {
					t.Fatalf("%s granted %q, which matches %q", c.user, topic, w)
				}
			}
		}
	})
}

// BenchmarkACLDeliver measures the read check mochi runs for every message
// delivered to every subscriber.
func BenchmarkACLDeliver(b *testing.B) {
	p := testPolicy()
	h := &authHook{policy: p}
	cl := newTestClient("node-a", "node-a")
	sched := newTestClient("scheduler", "scheduler@x")
	b.ReportAllocs()
	for b.Loop() {
		if !h.OnACLCheck(cl, "tether/v1/eu-1/nodes/node-a/cmd/rebirth", false) {
			b.Fatal("denied")
		}
		if !h.OnACLCheck(sched, "tether/v1/eu-1/nodes/node-b/metrics", false) {
			b.Fatal("denied")
		}
	}
}

func TestACLCheckDoesNotAllocate(t *testing.T) {
	h := &authHook{policy: testPolicy()}
	cl := newTestClient("node-a", "node-a")
	mon := newTestClient("monitor", "nodered_1")
	op := newTestClient("operator", "cli-1")
	if n := testing.AllocsPerRun(100, func() {
		h.OnACLCheck(cl, "tether/v1/eu-1/nodes/node-a/cmd/rebirth", false)
		h.OnACLCheck(cl, "tether/v1/eu-1/nodes/node-b/cmd/rebirth", false)
		h.OnACLCheck(mon, "tether/v1/eu-1/nodes/node-a/cmd/blob", false)
		h.OnACLCheck(mon, "tether/v1/eu-1/nodes/node-a/metrics", false)
		h.OnACLCheck(mon, "tether/v1/eu-1/operators/operator/cmd/blob", false)
		h.OnACLCheck(op, "tether/v1/eu-1/operators/operator/cmd/blob", false)
	}); n != 0 {
		t.Errorf("OnACLCheck allocates %v times per call pair, want 0", n)
	}
}

// TestDiscoveryACL: with Home Assistant discovery on, the scheduler writes
// below the prefix and monitors and operators read it; nobody else writes
// there, and with discovery off nobody but the scheduler's region is
// touched.
func TestDiscoveryACL(t *testing.T) {
	on := testPolicy().withDiscovery("homeassistant")
	off := testPolicy()
	const cfg = "homeassistant/sensor/tether_eu-1_node-a/cpu/config"
	for _, c := range []struct {
		p     *policy
		user  string
		topic string
		write bool
		want  bool
	}{
		{on, "scheduler", cfg, true, true},
		{on, "monitor", cfg, false, true},
		{on, "monitor", "homeassistant/#", false, true},
		{on, "operator", cfg, false, true},
		{on, "monitor", cfg, true, false},
		{on, "operator", cfg, true, false},
		{on, "node-a", cfg, true, false},
		{on, "node-a", cfg, false, false},
		{on, "scheduler", "homeassistantx/sensor/x/config", true, false},
		{off, "scheduler", cfg, true, false},
		{off, "monitor", cfg, false, false},
	} {
		if got := c.p.allowed(c.p.roleOf(c.user), c.user, c.topic, c.write); got != c.want {
			t.Errorf("discovery %q: %s write=%v %s: %v, want %v", c.p.discovery, c.user, c.write, c.topic, got, c.want)
		}
	}
}
