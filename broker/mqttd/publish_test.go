package mqttd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/testenv"
)

// A QoS 1 publish the broker refuses is answered, never left waiting and
// never a reason to disconnect: MQTT 3.1.1 gets a PUBACK (the message is
// dropped), MQTT 5 a PUBACK with 0x87 "not authorized". That includes
// $SYS/…, which mochi drops before any hook without an acknowledgement.
func TestRefusedQoS1PublishIsAnswered(t *testing.T) {
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()

	t.Run("3.1.1", func(t *testing.T) {
		for _, tt := range []struct{ user, id, topic string }{
			{"monitor", "nodered_abc123", "tether/v1/eu-1/fleet/summary"},
			{"monitor", "monitor", "$SYS/broker/clients/total"},
			{"node-a", "node-a", "$SYS/x"},
			{"node-a", "node-a", nodeA + "/junk/1"},
		} {
			c, err := dialWith(t, addr, dialOpts{user: tt.user, password: password(tt.user), clientID: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.publish(tt.topic, 1, "x"); err != nil {
				t.Errorf("%s: QoS 1 publish to %s: %v", tt.user, tt.topic, err)
			}
			if c.isLost(0) {
				t.Errorf("%s: disconnected after a refused publish to %s", tt.user, tt.topic)
			}
			c.barrier() // still served
		}
	})

	t.Run("5", func(t *testing.T) {
		for _, tt := range []struct{ user, id, topic string }{
			{"monitor", "mqttjs_5f1e2d3c", "tether/v1/eu-1/fleet/summary"},
			{"monitor", "", "$SYS/broker/clients/total"},
			{"node-a", "node-a", nodeA + "/junk/1"},
		} {
			c, ok := rawConnect(t, addr, 5, tt.user, tt.id)
			if !ok {
				t.Fatalf("%s with client id %q refused", tt.user, tt.id)
			}
			c.publish(tt.topic, 1, false, []byte("x"))
			typ, body := c.read()
			if typ != packets.Puback || len(body) < 3 || body[2] != packets.ErrNotAuthorized.Code {
				t.Errorf("%s: publish to %s answered with type %d body %x, want PUBACK 0x87", tt.user, tt.topic, typ, body)
			}
		}
	})
}

// mochi logs a refused MQTT 5 publish with the whole packet; the payload
// must never reach the log, whoever sends it.
func TestLogsNeverCarryPayloads(t *testing.T) {
	opts := testOptions(t)
	logs := &testenv.SyncBuffer{}
	opts.Logger = logger(logs)
	s := startServer(t, opts)
	payload := []byte("SECRET-PAYLOAD-" + strings.Repeat("z", 100))
	c, ok := rawConnect(t, s.Addr().String(), 5, "monitor", "telegraf")
	if !ok {
		t.Fatal("monitor refused")
	}
	c.publish("tether/v1/eu-1/fleet/summary", 1, false, payload)
	c.read()
	c.publish("$SYS/x", 1, false, payload)
	c.read()
	got := logs.String()
	if !strings.Contains(got, "denied publish") {
		t.Fatalf("no denied publish logged:\n%s", got)
	}
	decimal := strings.Trim(fmt.Sprint(payload[:16]), "[]")
	if strings.Contains(got, "SECRET") || strings.Contains(got, decimal) {
		t.Errorf("the log carries the payload:\n%s", got)
	}
}

// A client that floods the broker with refused publishes gets a bounded
// number of log lines.
func TestRefusedPublishLogsAreRateLimited(t *testing.T) {
	opts := testOptions(t)
	logs := &testenv.SyncBuffer{}
	opts.Logger = logger(logs)
	s := startServer(t, opts)
	c := mustDial(t, s.Addr().String(), "node-a")
	const n = 300
	for i := range n {
		if err := c.publish(fmt.Sprintf("%s/metrics", nodeB), byte(i%2), "x"); err != nil {
			t.Fatal(err)
		}
	}
	c.barrier()
	if got := strings.Count(logs.String(), "denied publish"); got > 20 {
		t.Errorf("%d log lines for %d refused publishes, want the rate limit's burst", got, n)
	}
}

func TestSafeLoggerRedacts(t *testing.T) {
	var b bytes.Buffer
	log := safeLogger(logger(&b))
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/" + strings.Repeat("x", 1000), Payload: []byte("SECRET")}
	log.Warn("error processing packet", "pk", pk, "ptr", &pk, "raw", []byte("SECRET"), "client", strings.Repeat("c", 5000))
	got := b.String()
	if strings.Contains(got, "SECRET") || strings.Contains(got, "83 69 67") || len(got) > 2000 {
		t.Errorf("log line %d bytes: %s", len(got), got)
	}
	for _, want := range []string{"pk.payload_bytes=6", "pk.type=Publish", "ptr.payload_bytes=6", "raw_bytes=6"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line lacks %s: %s", want, got)
		}
	}
}

// A monitor may not take over a session another user holds, even one whose
// id is not a known user's name (a node let in by AllowAnonymous, or an id
// a tool of another monitor user chose).
func TestMonitorCannotTakeOverASession(t *testing.T) {
	opts := testOptions(t)
	opts.AllowAnonymous = true
	opts.MonitorUsers = append(opts.MonitorUsers, "watcher")
	s := startServer(t, opts)
	addr := s.Addr().String()
	node, err := dialWith(t, addr, dialOpts{user: "node-z", clientID: "node-z"}) // not in the credentials file
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialWith(t, addr, dialOpts{user: "monitor", password: password("monitor"), clientID: "node-z"}); err == nil {
		t.Error("a monitor took over node-z's session")
	}
	if _, err := dialWith(t, addr, dialOpts{user: "watcher", clientID: "nodered_1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dialWith(t, addr, dialOpts{user: "monitor", password: password("monitor"), clientID: "nodered_1"}); err == nil {
		t.Error("a monitor took over another monitor user's session")
	}
	if node.isLost(0) {
		t.Error("node-z was disconnected")
	}
	node.mustPublish("tether/v1/eu-1/nodes/node-z/metrics", 1, "m")
}

// Wrong passwords, however many, cost a bounded number of log lines.
func TestRefusedConnectionLogsAreRateLimited(t *testing.T) {
	opts := testOptions(t)
	logs := &testenv.SyncBuffer{}
	opts.Logger = logger(logs)
	s := startServer(t, opts)
	const n = 60
	for i := range n {
		if _, err := dialWith(t, s.Addr().String(), dialOpts{user: "node-a", password: "wrong", clientID: "node-a"}); err == nil {
			t.Fatalf("attempt %d: a wrong password was accepted", i)
		}
	}
	if got := strings.Count(logs.String(), "refused connection"); got == 0 || got > 20 {
		t.Errorf("%d log lines for %d refused connections, want the rate limit's burst", got, n)
	}
}
