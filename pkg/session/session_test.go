package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"

	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/mqtttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startBroker runs an open broker on a loopback port for one test.
func startBroker(t *testing.T) (*mochi.Server, string) { return mqtttest.Start(t) }

func fastOptions(brokers ...string) Options {
	return Options{
		Brokers:        brokers,
		ClientID:       "n1",
		KeepAlive:      5 * time.Second,
		ConnectTimeout: 2 * time.Second,
		OpTimeout:      2 * time.Second,
		Backoff:        backoff.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// run starts s.Run and returns a stop function that waits for it.
func run(t *testing.T, s *Session) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitConnected(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx); err != nil {
		t.Fatalf("not connected: %v", err)
	}
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	_, url := startBroker(t)
	s, err := New(fastOptions(url))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if err := s.Subscribe(context.Background(), "x/+", 1, func(m Message) { got <- m.Topic + "=" + string(m.Payload) }); err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s)
	if err := s.Publish(context.Background(), Message{Topic: "x/y", QoS: 1, Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "x/y=hi" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
	if s.Counters().Sent.Load() == 0 || s.Counters().Received.Load() == 0 {
		t.Fatal("byte counters did not move")
	}
}

func TestPublishWhileDisconnected(t *testing.T) {
	s, err := New(fastOptions("tcp://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), Message{Topic: "a", QoS: 1}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish = %v, want ErrNotConnected", err)
	}
}

// deadBroker returns the URL of a loopback port nothing listens on.
func deadBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "tcp://" + ln.Addr().String()
}

func TestFailoverToSecondBroker(t *testing.T) {
	deadURL := deadBroker(t)
	_, url := startBroker(t)
	s, err := New(fastOptions(deadURL, url))
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s)
}

func TestReconnectRepublishesBirthAndResubscribes(t *testing.T) {
	srv, url := startBroker(t)
	var births atomic.Int32
	var willSeq atomic.Int32
	opts := fastOptions(url)
	opts.OnConnect = func(s *Session) {
		n := births.Add(1)
		_ = s.Publish(context.Background(), Message{Topic: "n1/status", QoS: 1, Retained: true, Payload: []byte{byte('0' + n)}})
	}
	opts.Will = func() *Message {
		n := willSeq.Add(1)
		return &Message{Topic: "n1/status", QoS: 1, Retained: true, Payload: []byte{'w', byte('0' + n)}}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	if err := s.Subscribe(context.Background(), "cmd/#", 1, func(m Message) { got <- m.Topic }); err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s)

	cl, ok := srv.Clients.Get("n1")
	if !ok {
		t.Fatal("client n1 unknown to the broker")
	}
	cl.Stop(errors.New("test drops the connection"))

	testenv.Eventually(t, 5*time.Second, "the birth hook to run again after a reconnect", func() bool { return births.Load() >= 2 })
	if willSeq.Load() < 2 {
		t.Fatalf("will composed %d times, want once per connection", willSeq.Load())
	}
	if err := srv.Publish("cmd/ping", []byte("x"), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-got:
		if topic != "cmd/ping" {
			t.Fatalf("got %q", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not restored after reconnect")
	}
}

func TestGoodbyeSuppressesWill(t *testing.T) {
	srv, url := startBroker(t)
	opts := fastOptions(url)
	opts.Will = func() *Message { return &Message{Topic: "n1/status", QoS: 1, Retained: true, Payload: []byte("lost")} }
	opts.Goodbye = func() *Message {
		return &Message{Topic: "n1/status", QoS: 1, Retained: true, Payload: []byte("shutdown")}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	waitConnected(t, s)
	stop()
	if s.Connected() {
		t.Fatal("still connected after Run returned")
	}
	// mochi sends a will before it marks the connection closed, so once
	// the broker has closed it a wrongly sent will is retained.
	testenv.Eventually(t, 5*time.Second, "the broker to close n1's connection", func() bool {
		cl, ok := srv.Clients.Get("n1")
		return ok && cl.Closed()
	})
	var last string
	if err := srv.Subscribe("n1/status", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		last = string(pk.Payload)
	}); err != nil {
		t.Fatal(err)
	}
	if last != "shutdown" {
		t.Fatalf("retained status %q, want the goodbye", last)
	}
}

func TestPublishAsyncKeepsOrder(t *testing.T) {
	srv, url := startBroker(t)
	var mu sync.Mutex
	var got []string
	if err := srv.Subscribe("x/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		got = append(got, string(pk.Payload))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	s, err := New(fastOptions(url))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAsync(Message{Topic: "x/a", QoS: 1}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("PublishAsync before connecting: %v", err)
	}
	run(t, s)
	waitConnected(t, s)
	var inflight []*Inflight
	for i := range 200 {
		topic := "x/a"
		if i%2 == 1 {
			topic = "x/b" // two topics, one order
		}
		f, err := s.PublishAsync(Message{Topic: topic, QoS: 1, Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		inflight = append(inflight, f)
	}
	for _, f := range inflight {
		if err := f.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// A PUBACK can reach the client before the broker has handed the
	// message to its subscribers: wait for the last delivery.
	testenv.Eventually(t, 5*time.Second, "200 deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 200
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 200 {
		t.Fatalf("%d delivered, want 200", len(got))
	}
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order not kept", i, p)
		}
	}
}

// refuseHook lets every client in and refuses the first refusals
// subscriptions to filter, as a NATS node does while it cannot create the
// subscription's JetStream consumer.
type refuseHook struct {
	mochi.HookBase
	filter   string
	refusals atomic.Int32
	asked    atomic.Int32 // subscriptions to filter asked for
	others   atomic.Int32 // subscriptions to other filters asked for
}

func (h *refuseHook) ID() string { return "refuse-first" }
func (h *refuseHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *refuseHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *refuseHook) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	if write {
		return true
	}
	if topic != h.filter {
		if topic == "other/#" { // not a delivery's topic: mochi checks those too
			h.others.Add(1)
		}
		return true
	}
	h.asked.Add(1)
	return h.refusals.Add(-1) < 0
}

// TestRefusedSubscriptionIsRetried: a subscription the broker refuses when
// the session connects is asked for again until it is in force, on the
// same connection; the other filters are not asked for again; OnSubscribed
// runs once, when the last refusal is overcome. Before, the
// session logged the refusal and ran the whole connection without it.
func TestRefusedSubscriptionIsRetried(t *testing.T) {
	hook := &refuseHook{filter: "cmd/#"}
	hook.refusals.Store(3)
	srv, url := mqtttest.StartWith(t, hook)

	opts := fastOptions(url)
	var subscribedAt []int32 // cmd/# asks when OnSubscribed ran
	var subMu sync.Mutex
	opts.OnSubscribed = func(*Session) {
		subMu.Lock()
		subscribedAt = append(subscribedAt, hook.asked.Load())
		subMu.Unlock()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	for _, f := range []string{"cmd/#", "other/#"} {
		if err := s.Subscribe(context.Background(), f, 1, func(m Message) { got <- m.Topic }); err != nil {
			t.Fatal(err)
		}
	}
	run(t, s)
	waitConnected(t, s)
	testenv.Eventually(t, 5*time.Second, "cmd/# asked for the first time and 3 retries", func() bool { return hook.asked.Load() >= 4 })
	cl, _ := srv.Clients.Get("n1")
	if cl == nil {
		t.Fatal("client n1 unknown to the broker")
	}
	for _, topic := range []string{"cmd/ping", "other/x"} {
		testDeliver := func() bool {
			if err := srv.Publish(topic, []byte("x"), false, 1); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				return m == topic
			case <-time.After(200 * time.Millisecond):
				return false
			}
		}
		ok := false
		for i := 0; i < 10 && !ok; i++ { // the last retry's SUBACK may still be on its way
			ok = testDeliver()
		}
		if !ok {
			t.Fatalf("%s not delivered: the refused subscription was not retried", topic)
		}
	}
	if n := cl.State.Subscriptions.Len(); n != 2 {
		t.Fatalf("%d subscriptions in force, want 2", n)
	}
	subMu.Lock()
	if len(subscribedAt) != 1 || subscribedAt[0] != 4 || !s.Subscribed() {
		t.Errorf("OnSubscribed ran at cmd/# asks %v, want once, at the 4th (granted); Subscribed() %v", subscribedAt, s.Subscribed())
	}
	subMu.Unlock()
	if hook.asked.Load() != 4 || hook.others.Load() != 1 {
		t.Fatalf("cmd/# asked for %d times (want 4: no more once granted), other/# %d (want 1)", hook.asked.Load(), hook.others.Load())
	}
}

// maxSource makes every full-jitter draw its ceiling: a backoff of Min =
// Max = d then always waits d.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return math.MaxUint64 }

// TestFailedBrokerGoesOnToTheNextAtOnce: a session whose first broker is
// down connects to the second without the backoff's delay (here 30 s):
// the backoff applies once every broker has failed.
func TestFailedBrokerGoesOnToTheNextAtOnce(t *testing.T) {
	deadURL := deadBroker(t)
	_, url := startBroker(t)
	o := fastOptions(deadURL, url)
	o.Backoff = backoff.Policy{Min: 30 * time.Second, Max: 30 * time.Second, Rand: rand.New(maxSource{})}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s) // within 5 s
	if s.Broker() != url {
		t.Fatalf("connected to %s, want %s", s.Broker(), url)
	}
}

// TestLostConnectionTriesTheNextBroker: a session that loses its broker
// tries the next one in its list first, not the one just lost (a cluster
// node that stopped): it reconnects to the other broker with no failed
// connect in between.
func TestLostConnectionTriesTheNextBroker(t *testing.T) {
	_, brokerA := startBroker(t)
	a := testenv.NewCutProxy(t, strings.TrimPrefix(brokerA, "tcp://"))
	urlA := a.URL()
	_, urlB := startBroker(t)
	var logs testenv.SyncBuffer
	o := fastOptions(urlA, urlB)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s)
	if s.Broker() != urlA {
		t.Fatalf("first connected to %s, want %s", s.Broker(), urlA)
	}
	a.Cut() // A is down: its connections close, new ones are refused
	testenv.Eventually(t, 5*time.Second, "connected to the second broker", func() bool { return s.Connected() && s.Broker() == urlB })
	if out := logs.String(); strings.Contains(out, "mqtt connect failed") {
		t.Fatalf("the session tried a broker that had failed before the next one:\n%s", out)
	}
}

// TestShutdownDoesNotWaitForPublishersWriteTimeout stops a session while
// publishers hand it messages as fast as they can. A publisher that took
// the connection just before the disconnect used to wait in paho's Publish
// for the whole write timeout (OpTimeout), and Run with it when the caller
// was the task publisher of a stopping scheduler; now Run returns without
// that wait, every publisher's last call returns promptly, and the goodbye
// is the connection's last message.
func TestShutdownDoesNotWaitForPublishersWriteTimeout(t *testing.T) {
	srv, url := startBroker(t)
	var mu sync.Mutex
	var last string
	if err := srv.Subscribe("x/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		last = string(pk.Payload)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	const rounds, publishers = 10, 4
	for round := range rounds {
		opts := fastOptions(url)
		opts.OpTimeout = 5 * time.Second // the write timeout a stuck publisher would wait
		opts.Goodbye = func() *Message { return &Message{Topic: "x/status", QoS: 1, Payload: []byte("goodbye")} }
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		waitConnected(t, s)
		var wg sync.WaitGroup
		var slowest atomic.Int64
		for p := range publishers {
			wg.Go(func() {
				for i := 0; ; i++ {
					t0 := time.Now()
					_, err := s.PublishAsync(Message{Topic: fmt.Sprintf("x/%d", p), QoS: 1, Payload: []byte(fmt.Sprint(i))})
					if d := int64(time.Since(t0)); d > slowest.Load() {
						slowest.Store(d) // a race between publishers only lowers the figure by one call
					}
					if err != nil {
						return
					}
				}
			})
		}
		time.Sleep(50 * time.Millisecond) // kept: let the publishers fill paho's queue
		t0 := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(opts.OpTimeout):
			t.Fatalf("round %d: Run did not return within the write timeout", round)
		}
		stopped := time.Since(t0)
		wg.Wait()
		if stopped > 2*time.Second || time.Duration(slowest.Load()) > 2*time.Second {
			t.Fatalf("round %d: Run returned after %v, the slowest Publish took %v", round, stopped, time.Duration(slowest.Load()))
		}
		testenv.Eventually(t, 5*time.Second, "the broker to close n1's connection", func() bool {
			cl, ok := srv.Clients.Get("n1")
			return ok && cl.Closed()
		})
		mu.Lock()
		got := last
		mu.Unlock()
		if got != "goodbye" {
			t.Fatalf("round %d: the connection's last message was %q, want the goodbye", round, got)
		}
	}
}

// holdHook holds every publish to its topic before the broker acknowledges
// it, until released: a PUBACK that does not come.
type holdHook struct {
	mochi.HookBase
	topic   string
	held    chan struct{} // one token per publish held
	release chan struct{}
}

func (h *holdHook) ID() string           { return "hold" }
func (h *holdHook) Provides(b byte) bool { return b == mochi.OnPublish }
func (h *holdHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.TopicName == h.topic {
		h.held <- struct{}{}
		<-h.release
	}
	return pk, nil
}

// TestPublishEndsWithItsConnection: a Publish waiting for a PUBACK returns
// ErrNotConnected as soon as its connection ends, not after the whole
// OpTimeout (a blob fetch's want in flight at a cut held the fetch loop so
// for 10 s after the agent had reconnected).
func TestPublishEndsWithItsConnection(t *testing.T) {
	srv, url := startBroker(t)
	h := &holdHook{topic: "x/held", held: make(chan struct{}, 1), release: make(chan struct{})}
	if err := srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	defer close(h.release)
	proxy := testenv.NewCutProxy(t, strings.TrimPrefix(url, "tcp://"))
	opts := fastOptions(proxy.URL())
	opts.OpTimeout = 10 * time.Second
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitConnected(t, s)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Publish(context.Background(), Message{Topic: "x/held", QoS: 1, Payload: []byte("x")})
	}()
	select {
	case <-h.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the publish never reached the broker")
	}
	t0 := time.Now()
	proxy.Cut()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNotConnected) {
			t.Fatalf("Publish: %v, want ErrNotConnected", err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("Publish returned %v after its connection ended", d)
		}
	case <-time.After(opts.OpTimeout):
		t.Fatal("Publish waited the whole OpTimeout after its connection ended")
	}
}

// TestRedialMovesToTheNextBroker asks a healthy connection to be dropped,
// as the scheduler does when its own messages stop coming back: the
// session connects to the next broker, its subscription works there, and
// the first broker publishes no will (the session goes on; its will would
// tell everyone it is gone).
func TestRedialMovesToTheNextBroker(t *testing.T) {
	srvA, urlA := startBroker(t)
	srvB, urlB := startBroker(t)
	var logs testenv.SyncBuffer
	o := fastOptions(urlA, urlB)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.Will = func() *Message { return &Message{Topic: "n1/status", QoS: 1, Retained: true, Payload: []byte("lost")} }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	if err := s.Subscribe(context.Background(), "x/+", 1, func(m Message) { got <- string(m.Payload) }); err != nil {
		t.Fatal(err)
	}
	s.Redial(errors.New("before any connection")) // nothing to drop: ignored
	run(t, s)
	waitConnected(t, s)
	if s.Broker() != urlA {
		t.Fatalf("first connected to %s, want %s", s.Broker(), urlA)
	}
	s.Redial(errors.New("own messages do not come back"))
	testenv.Eventually(t, 5*time.Second, "connected to the second broker", func() bool { return s.Connected() && s.Broker() == urlB })
	if !strings.Contains(logs.String(), "dropped on request: own messages do not come back") {
		t.Fatalf("the log does not say why the connection ended:\n%s", logs.String())
	}
	testenv.Eventually(t, 5*time.Second, "broker A to close n1's connection", func() bool {
		cl, ok := srvA.Clients.Get("n1")
		return ok && cl.Closed()
	})
	var will string
	if err := srvA.Subscribe("n1/status", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		will = string(pk.Payload)
	}); err != nil {
		t.Fatal(err)
	}
	if will != "" {
		t.Fatalf("broker A published the will %q for a connection dropped on request", will)
	}
	testenv.Eventually(t, 5*time.Second, "the subscription in force on B", func() bool { return s.Subscribed() })
	if err := srvB.Publish("x/y", []byte("on B"), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "on B" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription does not deliver after the redial")
	}
}
