package mqttd

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// brokerUnderTest is a running broker with the test users and Tether's ACL:
// the embedded one, or Mosquitto started from deploy/mosquitto.
type brokerUnderTest struct {
	name string
	addr string // plain listener
	// checksSubscribe: SUBSCRIBE filters outside the ACL are refused (SUBACK
	// 0x80). Mosquitto's default ACL grants every filter and checks read
	// access per message instead.
	checksSubscribe bool
	// embedded: rules only the embedded broker has (client id, will topic
	// checked at connect).
	embedded bool
	// nodePublishOnly runs only node-a's publish cases, at QoS 1: what a
	// node may publish as itself and as others (a short form for brokers
	// where each case costs seconds).
	nodePublishOnly bool
}

func embeddedBroker(t *testing.T) brokerUnderTest {
	s := startServer(t, testOptions(t))
	return brokerUnderTest{name: "embedded", addr: s.Addr().String(), checksSubscribe: true, embedded: true}
}

var payloadSeq atomic.Int64

func uniquePayload(what string) string {
	return fmt.Sprintf("%s-%d", what, payloadSeq.Add(1))
}

const (
	nodeA = "tether/v1/eu-1/nodes/node-a"
	nodeB = "tether/v1/eu-1/nodes/node-b"
)

// connectCases: who may connect at all.
var connectCases = []struct {
	name string
	o    dialOpts
	want bool
	// mosquitto, when set, is Mosquitto's answer where it differs
	// (documented in deploy/mosquitto/tether.acl).
	mosquitto *bool
}{
	{"node", dialOpts{user: "node-a", password: "pw-node-a", clientID: "node-a"}, true, nil},
	{"scheduler", dialOpts{user: "scheduler", password: "pw-scheduler", clientID: "scheduler"}, true, nil},
	{"bad password", dialOpts{user: "node-a", password: "pw-node-b", clientID: "node-a"}, false, nil},
	{"no password", dialOpts{user: "node-a", clientID: "node-a"}, false, nil},
	{"unknown user", dialOpts{user: "node-z", password: "pw-node-z", clientID: "node-z"}, false, nil},
	{"anonymous", dialOpts{clientID: "anon"}, false, nil},
	{"node with another's client id", dialOpts{user: "node-a", password: "pw-node-a", clientID: "node-b"}, false, ptr(true)},
	{"node with another's will", dialOpts{user: "node-a", password: "pw-node-a", clientID: "node-a", will: nodeB + "/status"}, false, ptr(true)},
	{"node with own will", dialOpts{user: "node-a", password: "pw-node-a", clientID: "node-a", will: nodeA + "/status"}, true, nil},
	// Monitors connect with the client ids their tools choose, but never
	// one that is another user's.
	{"monitor, Node-RED's id", dialOpts{user: "monitor", password: "pw-monitor", clientID: "nodered_abc123"}, true, nil},
	{"monitor, mqtt.js's id", dialOpts{user: "monitor", password: "pw-monitor", clientID: "mqttjs_5f1e2d3c"}, true, nil},
	{"monitor, Telegraf's id", dialOpts{user: "monitor", password: "pw-monitor", clientID: "telegraf-7a3c"}, true, nil},
	{"monitor, empty id", dialOpts{user: "monitor", password: "pw-monitor", clientID: ""}, true, nil},
	{"monitor with a node's id", dialOpts{user: "monitor", password: "pw-monitor", clientID: "node-a"}, false, ptr(true)},
	{"monitor with the scheduler's id", dialOpts{user: "monitor", password: "pw-monitor", clientID: "scheduler@eu-1"}, false, ptr(true)},
}

func ptr[T any](v T) *T { return &v }

// publishCases: who may publish where. Every topic is under tether/v1/ so
// a monitor can watch it.
var publishCases = []struct {
	user, topic string
	want        bool
	mosquitto   *bool
}{
	{"node-a", nodeA + "/status", true, nil},
	{"node-a", nodeA + "/metrics", true, nil},
	{"node-a", nodeA + "/tasks/t1", false, nil},
	{"node-a", nodeA + "/junk/1", false, nil},
	{"node-a", nodeA + "/status/x", false, nil},
	{"node-a", nodeA + "/cmd/rebirth", false, nil},
	{"node-a", nodeA + "/cmd", false, nil},
	{"node-a", nodeB + "/status", false, nil},
	{"node-a", nodeB + "/metrics", false, nil},
	{"node-a", nodeB + "/cmd/rebirth", false, nil},
	{"node-a", "tether/v1/eu-1/scheduler/status", false, nil},
	{"node-a", "tether/v1/eu-1/fleet/summary", false, nil},
	{"node-a", "tether/v1/eu-2/nodes/node-a/status", false, nil},
	{"scheduler", nodeA + "/cmd/rebirth", true, nil},
	{"scheduler", "tether/v1/eu-1/fleet/summary", true, nil},
	{"scheduler", "tether/v1/eu-2/fleet/summary", false, nil},
	{"monitor", nodeA + "/cmd/rebirth", false, nil},
	{"monitor", "tether/v1/eu-1/fleet/summary", false, nil},
	{"monitor", "tether/v1/eu-1/nodes/monitor/status", false, nil},
	{"monitor", "tether/v1/eu-1/tasks/submit", false, nil},
	{"node-a", nodeA + "/tasks", true, nil},
	{"node-a", "tether/v1/eu-1/tasks/submit", false, nil},
	{"operator", "tether/v1/eu-1/tasks/submit", true, nil},
	{"operator", "tether/v1/eu-1/tasks/control", true, nil},
	{"operator", "tether/v1/eu-2/tasks/submit", false, nil},
	{"operator", "tether/v1/eu-1/tasks/status/t1", false, nil},
	{"operator", nodeA + "/cmd/task", false, nil},
	{"operator", "tether/v1/eu-1/nodes/operator/status", false, nil},
	{"scheduler", "tether/v1/eu-1/replies/operator/r1", true, nil},
	// Blob frames: a node's own topic only. Watched by the scheduler (a
	// monitor receives no blob frames).
	{"node-a", nodeA + "/blob", true, nil},
	{"node-a", nodeB + "/blob", false, nil},
	{"node-a", nodeA + "/blob/x", false, nil},
	{"node-a", nodeA + "/cmd/blob", false, nil},
	// An operator's blob frames (uploads, downloads): its own topic only.
	{"operator", opsBlob + "/operator/blob", true, nil},
	{"operator", opsBlob + "/operator-b/blob", false, nil},
	{"operator", opsBlob + "/operator/cmd/blob", false, nil},
	{"node-a", opsBlob + "/node-a/blob", false, nil},
	{"monitor", opsBlob + "/monitor/blob", false, nil},
}

const opsBlob = "tether/v1/eu-1/operators"

// subscribeCases: what a subscription delivers. probe is a topic some
// other client publishes to (probeBy); the subscriber must receive it iff
// want. For refused filters, the embedded broker's SUBACK says 0x80.
var subscribeCases = []struct {
	user, filter   string
	probe, probeBy string
	want           bool
}{
	{"node-a", nodeA + "/cmd/#", nodeA + "/cmd/rebirth", "scheduler", true},
	{"node-a", nodeA + "/cmd/+", nodeA + "/cmd/rebirth", "scheduler", true},
	{"node-a", nodeA + "/status", nodeA + "/status", "node-a", true},
	{"node-a", nodeB + "/cmd/#", nodeB + "/cmd/rebirth", "scheduler", false},
	{"node-a", "tether/v1/eu-1/nodes/+/cmd/#", nodeB + "/cmd/rebirth", "scheduler", false},
	{"node-a", "tether/v1/+/nodes/+/cmd/#", nodeB + "/cmd/rebirth", "scheduler", false},
	{"node-a", "#", nodeB + "/cmd/rebirth", "scheduler", false},
	{"node-a", "tether/v1/eu-1/#", "tether/v1/eu-1/fleet/summary", "scheduler", false},
	{"node-a", nodeB + "/status", nodeB + "/status", "node-b", false},
	{"node-a", nodeA + "/metrics", nodeA + "/metrics", "node-a", false},
	{"node-a", nodeA + "/#", nodeA + "/metrics", "node-a", false},
	{"monitor", "tether/v1/#", nodeA + "/metrics", "node-a", true},
	{"monitor", "tether/v1/+/nodes/+/cmd/#", nodeA + "/cmd/rebirth", "scheduler", true},
	{"scheduler", "tether/v1/eu-1/#", nodeA + "/metrics", "node-a", true},
	{"scheduler", "tether/v1/eu-1/nodes/+/status", nodeB + "/status", "node-b", true},
	{"scheduler", opsBlob + "/+/blob", opsBlob + "/operator/blob", "operator", true},
	{"operator", opsBlob + "/operator/cmd/blob", opsBlob + "/operator/cmd/blob", "scheduler", true},
	{"node-a", opsBlob + "/node-a/cmd/blob", opsBlob + "/node-a/cmd/blob", "scheduler", false},
}

// runACLTable runs the whole table against b. The same table runs on the
// embedded broker and on Mosquitto; per-broker differences are explicit.
func runACLTable(t *testing.T, b brokerUnderTest) {
	t.Run("connect", func(t *testing.T) {
		for _, tt := range connectCases {
			t.Run(tt.name, func(t *testing.T) {
				want := tt.want
				if !b.embedded && tt.mosquitto != nil {
					want = *tt.mosquitto
				}
				_, err := dialWith(t, b.addr, tt.o)
				if (err == nil) != want {
					t.Errorf("connect error = %v, want success %v", err, want)
				}
				if err != nil && !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
					t.Errorf("refusal = %v, want CONNACK 0x05 not authorized", err)
				}
			})
		}
	})
	t.Run("publish", func(t *testing.T) {
		for _, tt := range publishCases {
			if b.nodePublishOnly && tt.user != "node-a" {
				continue
			}
			for _, qos := range []byte{0, 1} {
				if b.nodePublishOnly && qos == 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/qos%d", tt.user, tt.topic, qos), func(t *testing.T) {
					want := tt.want
					if !b.embedded && tt.mosquitto != nil {
						want = *tt.mosquitto
					}
					checkPublish(t, b, tt.user, tt.topic, qos, want)
				})
			}
		}
	})
	t.Run("subscribe", func(t *testing.T) {
		for _, tt := range subscribeCases {
			t.Run(tt.user+"/"+tt.filter, func(t *testing.T) {
				checkSubscribe(t, b, tt.user, tt.filter, tt.probe, tt.probeBy, tt.want)
			})
		}
	})
	t.Run("commands reach only their node", func(t *testing.T) {
		a := mustDial(t, b.addr, "node-a")
		bn := mustDial(t, b.addr, "node-b")
		a.subscribe(nodeA+"/cmd/#", 1)
		bn.subscribe(nodeB+"/cmd/#", 1)
		s := mustDial(t, b.addr, "scheduler")
		forB, forA := uniquePayload("for-b"), uniquePayload("for-a")
		s.mustPublish(nodeB+"/cmd/rebirth", 1, forB)
		s.mustPublish(nodeA+"/cmd/rebirth", 1, forA)
		if got := a.await(forA); contains(got, forB) {
			t.Error("node-a received node-b's command")
		}
		bn.await(forB)
	})
	t.Run("blob frames reach no monitor, and an operator only its own", func(t *testing.T) {
		var watchers []*client
		for _, u := range []string{"monitor", "operator"} {
			w := mustDial(t, b.addr, u)
			if g := w.subscribe("tether/v1/#", 1); g > 1 {
				t.Fatalf("%s refused tether/v1/#", u)
			}
			watchers = append(watchers, w)
		}
		s := mustDial(t, b.addr, "scheduler")
		s.subscribe("tether/v1/eu-1/nodes/+/blob", 1)
		a := mustDial(t, b.addr, "node-a")
		a.subscribe(nodeA+"/cmd/#", 1)
		up, down := uniquePayload("up"), uniquePayload("down")
		a.mustPublish(nodeA+"/blob", 1, up)
		a.barrier()
		s.await(up) // the node's frame was published and delivered
		s.mustPublish(nodeA+"/cmd/blob", 1, down)
		a.await(down)
		// An operator's own frames: the scheduler and it, no monitor.
		s.subscribe(opsBlob+"/+/blob", 1)
		opUp, opDown := uniquePayload("op-up"), uniquePayload("op-down")
		op := watchers[1]
		op.mustPublish(opsBlob+"/operator/blob", 1, opUp)
		op.barrier()
		s.await(opUp)
		s.mustPublish(opsBlob+"/operator/cmd/blob", 1, opDown)
		marker := uniquePayload("marker")
		s.mustPublish("tether/v1/eu-1/fleet/summary", 1, marker)
		for _, w := range watchers {
			got := w.await(marker)
			// The operator may see its own upload echoed (Mosquitto lets it
			// read its write topic); nobody else sees an operator's frames.
			if contains(got, up) || contains(got, down) || (w != op && (contains(got, opUp) || contains(got, opDown))) {
				t.Errorf("%s received a blob frame", w.user)
			}
			if w == op && !contains(got, opDown) {
				t.Error("the operator did not receive the frame the scheduler sent it")
			}
		}
	})
}

// checkPublish publishes a probe as user and checks, with the marker
// technique, whether a watcher saw it: after the probe the publisher sends
// an allowed marker on the same connection (or, if it may publish nothing
// or was disconnected, the watcher side sends it after a barrier). Brokers
// deliver one subscriber's messages in order, so once the marker has
// arrived the probe would have too.
func checkPublish(t *testing.T, b brokerUnderTest, user, topic string, qos byte, want bool) {
	watcherUser, watchFilter := "monitor", "tether/v1/#"
	if user == "monitor" || blobFrames(topic) {
		// Mosquitto's use_username_as_clientid allows one connection per
		// user, and monitors receive no blob frames; the region's
		// scheduler sees these topics too.
		watcherUser, watchFilter = "scheduler", "tether/v1/eu-1/#"
	}
	watcher := mustDial(t, b.addr, watcherUser)
	if g := watcher.subscribe(watchFilter, 1); g > 1 {
		t.Fatalf("watcher %s refused %q", watcherUser, watchFilter)
	}
	pub := mustDial(t, b.addr, user)
	probe := uniquePayload("probe")
	err := pub.publish(topic, qos, probe)

	// A denied QoS 1 publish is acknowledged and dropped (MQTT 3.1.1 has
	// no negative PUBACK); the client stays connected.
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	lost := pub.isLost(0)

	marker := uniquePayload("marker")
	switch {
	case !lost && user != "monitor":
		mt := nodeA + "/metrics"
		if user == "scheduler" {
			mt = "tether/v1/eu-1/fleet/summary"
		} else if user == "operator" {
			mt = "tether/v1/eu-1/tasks/submit"
		} else if user != "node-a" {
			mt = "tether/v1/eu-1/nodes/" + user + "/metrics"
		}
		pub.mustPublish(mt, 1, marker)
	case watcherUser == "scheduler":
		if !lost {
			pub.barrier()
		}
		watcher.mustPublish("tether/v1/eu-1/fleet/summary", 1, marker)
	default:
		s := mustDial(t, b.addr, "scheduler")
		s.mustPublish("tether/v1/eu-1/fleet/summary", 1, marker)
	}
	got := watcher.await(marker)
	if contains(got, probe) != want {
		t.Errorf("%s received the publish = %v, want %v", watcherUser, !want, want)
	}
	if !want && pub.isLost(0) {
		t.Errorf("%s: denied publish disconnected the client", b.name)
	}
}

// checkSubscribe subscribes user to filter, has probeBy publish to probe,
// and checks whether user receives it, using a marker on the subscriber's
// own command topic (or, for allowed cases, the probe itself).
func checkSubscribe(t *testing.T, b brokerUnderTest, user, filter, probeTopic, probeBy string, want bool) {
	sub := mustDial(t, b.addr, user)
	granted := sub.subscribe(filter, 1)
	if refused := granted == 0x80; b.checksSubscribe && refused == want {
		t.Errorf("SUBACK for %q = %#x, want refused %v", filter, granted, !want)
	} else if !b.checksSubscribe && refused {
		t.Errorf("%s refused %q: the table assumes it grants every filter", b.name, filter)
	}
	if !want && user != "node-a" {
		t.Fatal("the table can only check refusals for node-a")
	}
	if !want {
		sub.subscribe(nodeA+"/cmd/marker", 1) // where the marker arrives
	}

	pub := sub
	if probeBy != user {
		pub = mustDial(t, b.addr, probeBy)
	}
	probe := uniquePayload("probe")
	pub.mustPublish(probeTopic, 1, probe)
	if want {
		sub.await(probe)
		return
	}
	pub.barrier()
	marker := uniquePayload("marker")
	sched := pub
	if probeBy != "scheduler" {
		sched = mustDial(t, b.addr, "scheduler")
	}
	sched.mustPublish(nodeA+"/cmd/marker", 1, marker)
	if got := sub.await(marker); contains(got, probe) {
		t.Errorf("%s received %q through %q", user, probeTopic, filter)
	}
}

func TestACLEmbedded(t *testing.T) {
	runACLTable(t, embeddedBroker(t))
}
