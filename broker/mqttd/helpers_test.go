package mqttd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tether-edge/tether/pkg/testenv"
)

// Test users. Every test user's password is "pw-" + its name.
var (
	testNodes      = []string{"node-a", "node-b"}
	testSchedulers = []string{"scheduler"}
	testMonitors   = []string{"monitor"}
	testOperators  = []string{"operator"}
)

func password(user string) string { return "pw-" + user }

// writeTestCredentials writes a credentials file for the test users with
// AddUser, the code path `tether-broker passwd` uses.
func writeTestCredentials(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	for _, users := range [][]string{testNodes, testSchedulers, testMonitors, testOperators} {
		for _, u := range users {
			if err := AddUser(path, u, password(u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

// testLogger keeps the broker's debug-level log and shows it only if the
// test fails: unlike testenv.Logger, -v does not print it for every test.
func testLogger(t testing.TB) *slog.Logger {
	buf := &testenv.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", buf)
		}
	})
	return logger(buf)
}

// logger is a debug-level text logger writing to w.
func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testOptions are Options for an embedded broker on 127.0.0.1:0 with the
// test users.
func testOptions(t testing.TB) Options {
	return Options{
		Addr:            "127.0.0.1:0",
		Region:          testRegion,
		CredentialsFile: writeTestCredentials(t),
		SchedulerUsers:  testSchedulers,
		MonitorUsers:    testMonitors,
		OperatorUsers:   testOperators,
		Logger:          testLogger(t),
	}
}

// startServer runs a Server until the test ends, and fails the test if it
// does not stop cleanly.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready after 10s")
	}
	addr := s.Addr()
	if addr == nil {
		addr = s.TLSAddr()
	}
	embedded.Store(addr.String(), s)
	t.Cleanup(func() {
		embedded.Delete(addr.String())
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after its context was cancelled")
		}
	})
	return s
}

// embedded maps a running test server's address to it.
var embedded sync.Map

// waitSessionGone waits until an embedded broker has finished tearing down
// the clean session of a client with this id. mochi races here: if a new
// connection with the same client id arrives while the old connection's
// teardown runs, the teardown can delete the new client and its
// subscriptions (attachClient checks IsTakenOver, then deletes by id).
// Tests reconnect the same ids back to back, so every test client waits
// for its own teardown when it is closed; Tether's agents and scheduler use
// persistent sessions, which that teardown does not touch.
func waitSessionGone(addr, id string) {
	v, ok := embedded.Load(addr)
	if !ok || id == "" {
		return
	}
	s := v.(*Server)
	testenv.Within(2*time.Second, func() bool { _, ok := s.mochi.Clients.Get(id); return !ok })
}

// client is a paho MQTT 3.1.1 client for tests: every message it receives
// goes to msgs, and lost is closed when the broker drops the connection.
type client struct {
	t    testing.TB
	user string
	pc   paho.Client
	msgs chan paho.Message
	lost chan struct{}
}

type dialOpts struct {
	user, password, clientID string
	tls                      *tls.Config
	will                     string
}

// dial connects user with its test password and client id user (nodes and
// Mosquitto's use_username_as_clientid both want that).
func dial(t testing.TB, addr, user string) (*client, error) {
	return dialWith(t, addr, dialOpts{user: user, password: password(user), clientID: user})
}

func mustDial(t testing.TB, addr, user string) *client {
	t.Helper()
	c, err := dial(t, addr, user)
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return c
}

func dialWith(t testing.TB, addr string, o dialOpts) (*client, error) {
	c := &client{t: t, user: o.user, msgs: make(chan paho.Message, 1024), lost: make(chan struct{})}
	scheme := "tcp://"
	if o.tls != nil {
		scheme = "ssl://"
	}
	po := paho.NewClientOptions().
		AddBroker(scheme + addr).
		SetClientID(o.clientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetTLSConfig(o.tls).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m }).
		SetConnectionLostHandler(func(paho.Client, error) { close(c.lost) })
	if o.user != "" {
		po.SetUsername(o.user).SetPassword(o.password)
	}
	if o.will != "" {
		po.SetWill(o.will, "gone", 1, true)
	}
	c.pc = paho.NewClient(po)
	tok := c.pc.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		c.pc.Disconnect(0)
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		c.pc.Disconnect(50)
		waitSessionGone(addr, o.clientID)
	})
	return c, nil
}

// subscribe subscribes and returns the granted QoS (0x80: refused).
func (c *client) subscribe(filter string, qos byte) byte {
	c.t.Helper()
	tok := c.pc.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(5 * time.Second) {
		c.t.Fatalf("%s: SUBSCRIBE %q timed out", c.user, filter)
	}
	if err := tok.Error(); err != nil {
		c.t.Fatalf("%s: SUBSCRIBE %q: %v", c.user, filter, err)
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// publish publishes and, for QoS 1, waits for the PUBACK; it returns the
// token's error (a connection lost before the PUBACK).
func (c *client) publish(topic string, qos byte, payload string) error {
	tok := c.pc.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(5 * time.Second) {
		return fmt.Errorf("%s: PUBLISH %q: no PUBACK after 5s", c.user, topic)
	}
	return tok.Error()
}

func (c *client) mustPublish(topic string, qos byte, payload string) {
	c.t.Helper()
	if err := c.publish(topic, qos, payload); err != nil {
		c.t.Fatalf("%s: publish %q: %v", c.user, topic, err)
	}
}

// barrier returns once the broker has processed everything c sent before:
// brokers handle one connection's packets in order, and a SUBACK (granted
// or not) comes only after the preceding PUBLISHes were routed. (mochi
// sends a PUBACK before routing the message, so a PUBACK alone is not
// enough.)
func (c *client) barrier() {
	c.t.Helper()
	c.subscribe("tether/test/barrier", 0)
}

// isLost reports whether the broker dropped the connection within d.
func (c *client) isLost(d time.Duration) bool {
	select {
	case <-c.lost:
		return true
	case <-time.After(d):
		return false
	}
}

// await collects messages until one carries payload; it fails the test
// after 5s.
func (c *client) await(payload string) []paho.Message {
	c.t.Helper()
	var got []paho.Message
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			got = append(got, m)
			if string(m.Payload()) == payload {
				return got
			}
		case <-timeout:
			c.t.Fatalf("%s: no message %q within 5s (got %d others)", c.user, payload, len(got))
			return nil
		}
	}
}

func contains(msgs []paho.Message, payload string) bool {
	for _, m := range msgs {
		if string(m.Payload()) == payload {
			return true
		}
	}
	return false
}
