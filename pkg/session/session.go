package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tether-edge/tether/pkg/backoff"
)

// ErrNotConnected is returned by Publish while the session has no broker
// connection. The caller decides whether to buffer, retry or drop.
var ErrNotConnected = errors.New("not connected to a broker")

// Handler receives a message on a subscribed filter. It runs on the
// session's receive path, in order, and must be quick. m.Retained is true
// only for retained messages replayed on subscribe: a live publish arrives
// with it false [MQTT-3.3.1-9].
type Handler func(m Message)

type subscription struct {
	filter   string
	qos      byte
	handler  Handler
	deferred bool // the handler acknowledges (Message.Ack)
}

// Session is one logical MQTT client that outlives its connections. Each
// connection is a fresh paho client, so its will can be composed anew; the
// broker-side session (CleanSession false) carries queued messages across.
type Session struct {
	opts     Options
	counters Counters

	mu     sync.RWMutex // guards client, calls, broker, ready, gone, subs and failed
	client mqtt.Client  // nil while disconnected
	// calls counts the Publish calls inside client.Publish; one per
	// connection. shutdown waits for them while the connection still
	// writes (see there).
	calls  *sync.WaitGroup
	gone   chan struct{} // closed when the current connection ends
	redial chan error    // the current connection's Redial requests
	broker string        // URL of the current connection
	ready  bool          // subscriptions asked for and OnConnect done
	subbed bool          // every subscription in force on this connection
	subs   []subscription
	failed error // the last connect attempt's error; nil once connected

	connected chan struct{} // closed and replaced on state changes; see WaitConnected
	connMu    sync.Mutex    // guards connected
}

// New validates opts and returns a session; Run connects it.
func New(opts Options) (*Session, error) {
	opts.ensureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Session{opts: opts, connected: make(chan struct{})}, nil
}

// Counters returns the session's byte counters.
func (s *Session) Counters() *Counters { return &s.counters }

// Broker returns the URL of the broker the session is connected to, or ""
// while disconnected.
func (s *Session) Broker() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.client == nil {
		return ""
	}
	return s.broker
}

// Connected reports whether the session has a live connection whose
// subscriptions are restored and whose OnConnect hook has run.
func (s *Session) Connected() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready && s.client != nil && s.client.IsConnectionOpen()
}

// WaitConnected blocks until Connected is true or ctx ends.
func (s *Session) WaitConnected(ctx context.Context) error {
	for {
		s.connMu.Lock()
		ch := s.connected
		s.connMu.Unlock()
		if s.Connected() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitAttempt blocks until the session is connected (nil), a connect
// attempt has failed (its error, classified by ConnectError), or ctx ends.
// A command line uses it to report a refused connection at once instead of
// retrying until its timeout.
func (s *Session) WaitAttempt(ctx context.Context) error {
	for {
		s.connMu.Lock()
		ch := s.connected
		s.connMu.Unlock()
		if s.Connected() {
			return nil
		}
		s.mu.RLock()
		err := s.failed
		s.mu.RUnlock()
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ConnectErr returns the last connect attempt's error (a *ConnectError
// when it came from the broker or the network), or nil once connected.
func (s *Session) ConnectErr() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failed
}

func (s *Session) setFailed(err error) {
	s.mu.Lock()
	s.failed = err
	s.mu.Unlock()
	s.notifyState()
}

func (s *Session) notifyState() {
	s.connMu.Lock()
	close(s.connected)
	s.connected = make(chan struct{})
	s.connMu.Unlock()
}

// Subscribe registers handler for filter. The subscription is made now if
// connected, and again on every reconnect.
func (s *Session) Subscribe(ctx context.Context, filter string, qos byte, h Handler) error {
	return s.subscribeWith(ctx, subscription{filter: filter, qos: qos, handler: h})
}

// SubscribeDeferred is Subscribe for a handler that acknowledges each
// message itself, with Message.Ack, once it has made the message safe
// (e.g. committed what it carries): the broker keeps a persistent
// session's unacknowledged message and delivers it again after a crash.
// The handler must call Ack for every message, or the broker's in-flight
// window to this client fills. A message that also matches a plain
// subscription is acknowledged by the deferred handler alone.
func (s *Session) SubscribeDeferred(ctx context.Context, filter string, qos byte, h Handler) error {
	return s.subscribeWith(ctx, subscription{filter: filter, qos: qos, handler: h, deferred: true})
}

func (s *Session) subscribeWith(ctx context.Context, sub subscription) error {
	filter, qos := sub.filter, sub.qos
	if err := ValidateFilter(filter); err != nil {
		return err
	}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	_, err := s.subscribe(ctx, c, []subscription{{filter: filter, qos: qos}})
	return err
}

// subscribe subscribes c to subs and returns those not in force: all of
// them when no SUBACK came, else those whose return code is a refusal.
func (s *Session) subscribe(ctx context.Context, c mqtt.Client, subs []subscription) ([]subscription, error) {
	filters := make(map[string]byte, len(subs))
	for _, sub := range subs {
		filters[sub.filter] = sub.qos
	}
	if len(filters) == 0 {
		return nil, nil
	}
	tok := c.SubscribeMultiple(filters, nil)
	if err := s.wait(ctx, tok, s.opts.OpTimeout); err != nil {
		return subs, fmt.Errorf("subscribe: %w", err)
	}
	codes := tok.(*mqtt.SubscribeToken).Result()
	var refused []subscription
	var first error
	for _, sub := range subs {
		code, ok := codes[sub.filter]
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("subscribe %q: no return code in the SUBACK", sub.filter)
		case code == 0x80: // [MQTT-3.9.3-2] failure return code
			err = fmt.Errorf("subscribe %q: refused by the broker (its ACL; a NATS node also refuses while it cannot create the JetStream consumer)", sub.filter)
		case code > 2: // an MQTT 5 reason code (0x91 packet id in use, …) from a broker answering 3.1.1 with it
			err = fmt.Errorf("subscribe %q: refused by the broker (reason code %#x)", sub.filter, code)
		}
		if err != nil {
			refused = append(refused, sub)
			if first == nil {
				first = err
			}
		}
	}
	return refused, first
}

// resubscribe retries subs on c, with the session's backoff, until all are
// in force, ctx ends or the connection does (gone). A broker may refuse a
// subscription for a while and then accept it — NATS refuses one whose
// JetStream consumer it could not create in time, as under load or during
// an election — and a session that gave up would run on without that
// filter's messages for the whole connection: a scheduler without its
// nodes' reports. A refusal by the ACL is retried too; it costs one SUBSCRIBE
// per backoff ceiling (at most a minute) and is logged each time.
func (s *Session) resubscribe(ctx context.Context, c mqtt.Client, subs []subscription, gone <-chan struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	bo := backoff.New(s.opts.Backoff)
	for attempt := 1; ; attempt++ {
		if !sleep(ctx, bo.Next()) {
			return
		}
		refused, err := s.subscribe(ctx, c, subs)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.opts.Logger.Info("mqtt subscriptions restored", "filters", len(subs), "attempts", attempt+1)
			s.setSubscribed(gone)
			return
		}
		s.opts.Logger.Error("mqtt subscriptions still not in force: retrying", "err", err, "refused", len(refused))
		subs = refused
	}
}

// Publish sends m and, for QoS 1, waits for the broker's PUBACK, bounded by
// ctx and OpTimeout. It returns ErrNotConnected as soon as the connection
// the message was handed to ends: its PUBACK will not come.
func (s *Session) Publish(ctx context.Context, m Message) error {
	c, gone, calls := s.acquire()
	if c == nil {
		return ErrNotConnected
	}
	tok := c.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
	calls.Done()
	if err := s.waitOn(ctx, tok, s.opts.OpTimeout, gone); err != nil {
		if errors.Is(err, mqtt.ErrNotConnected) || errors.Is(err, errConnectionEnded) {
			return ErrNotConnected
		}
		return fmt.Errorf("publish %s: %w", m.Topic, err)
	}
	return nil
}

// Inflight is a publish handed to the connection whose acknowledgement has
// not been waited for yet.
type Inflight struct {
	s    *Session
	tok  mqtt.Token
	gone <-chan struct{} // the connection's end: its PUBACK will not come
}

// PublishAsync hands m to the current connection and returns without
// waiting for the PUBACK, so a caller can keep a window of messages in
// flight. Messages handed over on one connection are sent in order.
func (s *Session) PublishAsync(m Message) (*Inflight, error) {
	c, gone, calls := s.acquire()
	if c == nil {
		return nil, ErrNotConnected
	}
	tok := c.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
	calls.Done()
	return &Inflight{s: s, tok: tok, gone: gone}, nil
}

// acquire returns the current connection for one call of its Publish,
// counted in calls (the caller calls Done once Publish returned), with the
// connection's end; nil while disconnected.
func (s *Session) acquire() (mqtt.Client, <-chan struct{}, *sync.WaitGroup) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.client == nil {
		return nil, nil, nil
	}
	s.calls.Add(1)
	return s.client, s.gone, s.calls
}

// Done is closed when the publish completed: acknowledged, or failed (Wait
// says which). Lost is closed when the connection it was handed to ended.
// Together they let a caller wait for it alongside other work.
func (f *Inflight) Done() <-chan struct{} { return f.tok.Done() }

// Lost: see Done.
func (f *Inflight) Lost() <-chan struct{} { return f.gone }

// Wait waits for the broker's acknowledgement (QoS 1) or the hand-over
// (QoS 0), bounded by ctx and OpTimeout. It returns ErrNotConnected as
// soon as the connection the message was handed to ends.
func (f *Inflight) Wait(ctx context.Context) error {
	if err := f.s.waitOn(ctx, f.tok, f.s.opts.OpTimeout, f.gone); err != nil {
		if errors.Is(err, mqtt.ErrNotConnected) || errors.Is(err, errConnectionEnded) {
			return ErrNotConnected
		}
		return err
	}
	return nil
}

// wait bounds a token wait by ctx and timeout.
func (s *Session) wait(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	return s.waitOn(ctx, tok, timeout, nil)
}

var errConnectionEnded = errors.New("connection ended")

// waitOn is wait that also ends when gone is closed (nil: never).
func (s *Session) waitOn(ctx context.Context, tok mqtt.Token, timeout time.Duration, gone <-chan struct{}) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-gone:
		return errConnectionEnded
	case <-t.C:
		return fmt.Errorf("no answer from the broker within %v", timeout)
	}
}

func (s *Session) dispatch(_ mqtt.Client, msg mqtt.Message) {
	s.mu.RLock()
	var hs []subscription
	deferred := false
	for _, sub := range s.subs {
		if Match(sub.filter, msg.Topic()) {
			hs = append(hs, sub)
			deferred = deferred || sub.deferred
		}
	}
	s.mu.RUnlock()
	m := Message{Topic: msg.Topic(), QoS: msg.Qos(), Retained: msg.Retained(), Payload: msg.Payload()}
	for _, sub := range hs {
		if sub.deferred {
			dm := m
			dm.Ack = msg.Ack
			sub.handler(dm)
			continue
		}
		sub.handler(m)
	}
	// Paho's own acknowledgement is off (connect): the session sends it
	// once the handlers returned, unless a deferred handler owns it.
	if !deferred {
		msg.Ack()
	}
}

// Run connects and keeps the session connected until ctx ends, then says
// goodbye and disconnects cleanly. It returns nil on a clean stop.
func (s *Session) Run(ctx context.Context) error {
	log := s.opts.Logger
	bo := backoff.New(s.opts.Backoff)
	idx := 0
	// untried counts the brokers not yet tried since the last connection
	// was lost (or the session started): a failed connect goes on to the
	// next of them at once, and the backoff applies once every broker has
	// failed. A cluster's dead node then costs one refused dial, not a
	// backoff delay.
	untried := len(s.opts.Brokers)
	for {
		broker := s.opts.Brokers[idx%len(s.opts.Brokers)]
		lost := make(chan error, 1)
		c, err := s.connect(ctx, broker, lost)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			idx++ // fail over to the next broker
			s.setFailed(err)
			if untried--; untried > 0 {
				log.Warn("mqtt connect failed: trying the next broker", "broker", broker, "err", err,
					"next", s.opts.Brokers[idx%len(s.opts.Brokers)])
				continue
			}
			untried = len(s.opts.Brokers)
			delay := bo.Next()
			log.Warn("mqtt connect failed", "broker", broker, "err", err, "retry_in", delay.Round(time.Millisecond))
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		untried = len(s.opts.Brokers)
		since := time.Now()
		log.Info("mqtt connected", "broker", broker, "client_id", s.opts.ClientID)
		s.setClient(c, broker)
		s.mu.RLock()
		subs := append([]subscription(nil), s.subs...)
		redial := s.redial
		s.mu.RUnlock()
		var resub sync.WaitGroup
		var resubWanted []subscription
		resubGone := s.goneCh()
		if refused, err := s.subscribe(ctx, c, subs); err != nil {
			log.Error("mqtt subscriptions not restored: retrying", "err", err, "refused", len(refused))
			resubWanted = refused
		}
		if s.opts.OnConnect != nil {
			s.opts.OnConnect(s)
		}
		s.setReady()
		if resubWanted == nil {
			s.setSubscribed(s.goneCh())
		} else {
			resub.Go(func() { s.resubscribe(ctx, c, resubWanted, resubGone) })
		}
		select {
		case <-ctx.Done():
			s.shutdown(c)
			resub.Wait()
			return nil
		case err := <-lost:
			s.setClient(nil, "")
			resub.Wait()
			s.next(ctx, bo, &idx, broker, since, err)
		case err := <-redial:
			s.drop(c)
			resub.Wait()
			s.next(ctx, bo, &idx, broker, since, err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Redial ends the current connection, as if the broker had dropped it,
// and Run connects again, to the next broker first. It is for a caller
// that found the connection alive to the keepalive but no longer carrying
// its messages (a cluster node whose message store is in trouble can
// acknowledge messages it does not deliver). The connection is closed
// with a DISCONNECT, so its will is not published: the session goes on.
// It returns a channel closed once the connection is gone (WaitConnected
// then waits for the next one); nil while disconnected. A second Redial
// of the same connection only returns the channel.
func (s *Session) Redial(reason error) <-chan struct{} {
	s.mu.RLock()
	ch, gone := s.redial, s.gone
	s.mu.RUnlock()
	if ch == nil {
		return nil
	}
	select {
	case ch <- fmt.Errorf("dropped on request: %w", reason):
	default:
	}
	return gone
}

// next waits out the backoff after the connection to broker, made at
// since, ended with err, and moves idx to the next broker.
func (s *Session) next(ctx context.Context, bo *backoff.Backoff, idx *int, broker string, since time.Time, err error) {
	up := time.Since(since)
	if up >= s.opts.HealthyAfter {
		bo.Reset()
	}
	delay := bo.Next()
	// With several brokers the next one is tried first: the one just lost
	// is likely down (a cluster node stopping), and any node of a cluster
	// serves the session.
	*idx++
	s.opts.Logger.Warn("mqtt connection lost", "broker", broker, "err", err, "up", up.Round(time.Millisecond), "retry_in", delay.Round(time.Millisecond),
		"next", s.opts.Brokers[*idx%len(s.opts.Brokers)])
	sleep(ctx, delay)
}

// setClient installs the connection (nil when it is gone); Publish works
// from here on, Connected only after setReady.
func (s *Session) setClient(c mqtt.Client, broker string) {
	s.mu.Lock()
	if s.gone != nil {
		close(s.gone)
		s.gone = nil
	}
	s.redial = nil
	if c != nil {
		s.gone = make(chan struct{})
		s.redial = make(chan error, 1)
	}
	s.client, s.broker = c, broker
	s.calls = nil
	if c != nil {
		s.calls = new(sync.WaitGroup)
	}
	s.ready, s.subbed = false, false
	if c != nil {
		s.failed = nil
	}
	s.mu.Unlock()
	s.notifyState()
}

// setSubscribed records that every subscription is in force on the
// connection that ends with gone, and calls OnSubscribed; nothing if that
// connection is already over.
func (s *Session) setSubscribed(gone <-chan struct{}) {
	s.mu.Lock()
	current := s.gone != nil && (<-chan struct{})(s.gone) == gone
	if current {
		s.subbed = true
	}
	s.mu.Unlock()
	if current && s.opts.OnSubscribed != nil {
		s.opts.OnSubscribed(s)
	}
}

// Subscribed reports whether every subscription is in force on the
// current connection: false while disconnected and while the broker
// refuses one (Run asks again).
func (s *Session) Subscribed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.subbed
}

// goneCh is the current connection's end (nil while disconnected).
func (s *Session) goneCh() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gone
}

func (s *Session) setReady() {
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	s.notifyState()
}

func (s *Session) connect(ctx context.Context, broker string, lost chan<- error) (mqtt.Client, error) {
	o := mqtt.NewClientOptions()
	if u, _, err := parseBroker(broker); err == nil {
		o.AddBroker(u.String()) // a bare HOST:PORT made a tcp:// URL
	}
	o.SetClientID(s.opts.ClientID)
	// MQTT 3.1.1 only: with the default (0) paho retries a refused CONNECT
	// as MQTT 3.1, doubling every failed attempt.
	o.SetProtocolVersion(4)
	o.SetUsername(s.opts.Username)
	o.SetPassword(s.opts.Password)
	o.SetCleanSession(s.opts.CleanSession)
	o.SetKeepAlive(s.opts.KeepAlive)
	o.SetPingTimeout(min(s.opts.KeepAlive, s.opts.OpTimeout))
	o.SetConnectTimeout(s.opts.ConnectTimeout)
	o.SetWriteTimeout(s.opts.OpTimeout)
	o.SetAutoReconnect(false) // Run owns reconnects: jitter and failover
	o.SetConnectRetry(false)
	o.SetResumeSubs(false) // Run restores subscriptions itself
	o.SetDefaultPublishHandler(s.dispatch)
	o.SetAutoAckDisabled(true) // dispatch acknowledges (SubscribeDeferred)
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	o.SetCustomOpenConnectionFn(func(_ *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		return dial(ctx, broker, s.opts.TLS, s.opts.ConnectTimeout, &s.counters)
	})
	if s.opts.Will != nil {
		if w := s.opts.Will(); w != nil {
			o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
		}
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	// The dial follows ctx and paho bounds the CONNACK wait by
	// ConnectTimeout, so this wait ends; waiting here, rather than
	// abandoning the token, means no connection outlives Run.
	if !tok.WaitTimeout(2*s.opts.ConnectTimeout + time.Second) {
		c.Disconnect(0)
		return nil, &ConnectError{Broker: broker, Kind: ConnectTimeout, Err: fmt.Errorf("no CONNACK within %v", s.opts.ConnectTimeout)}
	}
	if err := tok.Error(); err != nil {
		return nil, connectError(broker, err)
	}
	if ctx.Err() != nil {
		c.Disconnect(0)
		return nil, ctx.Err()
	}
	return c, nil
}

// shutdown publishes the goodbye, then disconnects cleanly.
//
// The connection is taken away from Publish first, and the calls already
// inside paho's Publish are waited for (at most OpTimeout) while the
// connection still writes: paho's Publish on a client whose connection is
// closing or closed blocks its caller for the whole write timeout
// (OpTimeout), which held a stopping scheduler more than 10 s — a caller
// that took the connection just before the disconnect, as well as one
// after it. Now a later caller gets ErrNotConnected at once, an earlier
// one's message is handed over before the goodbye, and the goodbye is the
// connection's last message.
func (s *Session) shutdown(c mqtt.Client) {
	s.release()
	if s.opts.Goodbye != nil {
		if g := s.opts.Goodbye(); g != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
			if err := s.wait(ctx, c.Publish(g.Topic, g.QoS, g.Retained, g.Payload), s.opts.OpTimeout); err != nil {
				s.opts.Logger.Warn("goodbye not delivered", "err", err)
			}
			cancel()
		}
	}
	c.Disconnect(250)
	s.setClient(nil, "")
	s.opts.Logger.Info("mqtt disconnected")
}

// drop ends connection c for Redial: as shutdown, without the goodbye.
func (s *Session) drop(c mqtt.Client) {
	s.release()
	c.Disconnect(250) // paho writes the DISCONNECT within the quiesce, or not at all
	s.setClient(nil, "")
}

// release takes the connection away from Publish and waits (at most
// OpTimeout) for the calls already inside paho's Publish: see shutdown.
func (s *Session) release() {
	s.mu.Lock()
	calls := s.calls
	s.client, s.calls, s.ready, s.subbed = nil, nil, false, false // gone stays open: PUBACKs may still come
	s.redial = nil
	s.mu.Unlock()
	s.notifyState()
	if calls != nil {
		handed := make(chan struct{})
		go func() { calls.Wait(); close(handed) }()
		t := time.NewTimer(s.opts.OpTimeout)
		select {
		case <-handed:
		case <-t.C:
			s.opts.Logger.Warn("mqtt publishes still being handed over at shutdown")
		}
		t.Stop()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
