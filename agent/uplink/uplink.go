// Package uplink is the agent's side of the wire: it owns the MQTT session,
// stamps every message with the node's sequence number and instance id,
// publishes the retained birth on every connect, registers the will, says
// goodbye on shutdown, answers the scheduler's rebirth command, and notices
// another agent claiming the same node id.
package uplink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Options configure an Uplink.
type Options struct {
	Region string
	Node   string
	Facts  protocol.Facts
	// Heartbeat is the longest the agent stays silent; it is announced in
	// the birth so the scheduler knows when the node is overdue.
	Heartbeat time.Duration
	// Session carries the broker URLs, credentials, TLS and timeouts. Its
	// ClientID is set to Node; its hooks are the uplink's own.
	Session session.Options
	// Outbox keeps every counted message until the broker acknowledged it
	// and makes the sequence numbers; StoreID names it in every header.
	// NoStore() stands for a store not open yet (Attach gives it later).
	Outbox  Outbox
	StoreID string
	// Recovery, when the store had to be replaced at start, goes into
	// every birth of this process.
	Recovery *protocol.Recovery
	// Health is the agent's condition, put in every birth; nil: always
	// healthy. Run looks at it every HealthPoll (default 1 s) and
	// publishes a birth when it changed, and every Heartbeat while a flag
	// is set: metrics may not be going out then, and births keep the node
	// online.
	Health     func() protocol.Health
	HealthPoll time.Duration
	Logger     *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnTask receives the payload of every task command (a signed
	// task.Envelope, unverified) on the session's receive path: it must be
	// quick and must not keep the payload past its return. Nil: task
	// commands are ignored with a warning.
	OnTask func(payload []byte)
	// OnBlob receives the payload of every blob frame the scheduler sends
	// (pkg/blob), on the receive path, under OnTask's rules. Nil: blob
	// frames are dropped.
	OnBlob func(payload []byte)
}

// Uplink publishes a node's messages. Its methods are safe for concurrent
// use.
type Uplink struct {
	opts     Options
	topics   protocol.Topics
	instance string
	sess     *session.Session
	log      *slog.Logger

	conn       atomic.Uint32 // connections made by this process
	duplicates atomic.Uint64 // births of other agents seen on our node id
	born       atomic.Bool   // a birth of this instance reached the broker
	bornSeq    atomic.Uint64 // the stream position of this instance's latest birth
	birthMu    sync.Mutex    // serialises births: the seq must follow publish order
	rebirth    chan struct{} // requests from the scheduler, served by Run
	box        atomic.Pointer[attachment]
	ready      chan struct{}                   // closed once the outbox is the store's (Attach)
	added      chan struct{}                   // 1-buffered: a record was added to the outbox
	health     atomic.Pointer[protocol.Health] // in the latest birth published
}

// attachment is the outbox the uplink uses and what names it in messages.
type attachment struct {
	ob       Outbox
	store    string
	recovery *protocol.Recovery
}

// New validates opts and prepares the session; Run connects it.
func New(opts Options) (*Uplink, error) {
	if err := protocol.ValidateID("node id", opts.Node); err != nil {
		return nil, err
	}
	topics, err := protocol.NewTopics(opts.Region)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Outbox == nil {
		return nil, errors.New("uplink: no outbox")
	}
	if opts.HealthPoll <= 0 {
		opts.HealthPoll = time.Second
	}
	u := &Uplink{opts: opts, topics: topics, instance: newInstanceID(), log: opts.Logger,
		rebirth: make(chan struct{}, 1), ready: make(chan struct{}), added: make(chan struct{}, 1)}
	u.box.Store(&attachment{ob: opts.Outbox, store: opts.StoreID, recovery: opts.Recovery})
	if _, detached := opts.Outbox.(noStore); !detached {
		close(u.ready)
	}
	so := opts.Session
	so.ClientID = opts.Node
	so.CleanSession = false
	so.Will = u.will
	so.OnConnect = u.onConnect
	so.Goodbye = u.goodbye
	so.Logger = opts.Logger
	u.sess, err = session.New(so)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// newInstanceID returns 16 random hex digits: unique per agent process start.
func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails on Linux [crypto/rand docs]
	return hex.EncodeToString(b[:])
}

// Instance returns this process's instance id.
func (u *Uplink) Instance() string { return u.instance }

// Session returns the underlying session (for its counters and state).
func (u *Uplink) Session() *session.Session { return u.sess }

// Duplicates returns how many live births of another agent using this node
// id were seen.
func (u *Uplink) Duplicates() uint64 { return u.duplicates.Load() }

// Run subscribes to the node's commands and own status, then keeps the
// session up until ctx ends. It returns nil on a clean stop.
func (u *Uplink) Run(ctx context.Context) error {
	if err := u.sess.Subscribe(ctx, u.topics.NodeCommands(u.opts.Node), 1, u.onCommand); err != nil {
		return err
	}
	if err := u.sess.Subscribe(ctx, u.topics.NodeStatus(u.opts.Node), 1, u.onOwnStatus); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){u.serveRebirths, u.deliver, u.watchHealth} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	err := u.sess.Run(ctx)
	wg.Wait()
	return err
}

// serveRebirths publishes a birth per request, off the receive path: a
// publish waits for its PUBACK, which the receive path would have to read.
func (u *Uplink) serveRebirths(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.rebirth:
			u.publishBirth(u.sess)
		}
	}
}

// Header returns the header of the counted message with sequence number
// seq, stamped as the uplink stamps its own: what a task event made in
// another component's build function (the store's Journal) carries. from
// is the outbox's PendingFrom, read before the record was made.
func (u *Uplink) Header(seq, from uint64) protocol.Header { return u.header(seq, from) }

// Notify tells the delivery loop that a record was added to the outbox
// by someone else (the task runner), so it goes out now rather than at the
// next poll.
func (u *Uplink) Notify() {
	select {
	case u.added <- struct{}{}:
	default:
	}
}

// header stamps a message with seq and from (see protocol.Header.From).
func (u *Uplink) header(seq, from uint64) protocol.Header {
	return protocol.Header{V: protocol.Version, Node: u.opts.Node, Instance: u.instance, Store: u.box.Load().store, Seq: seq,
		TS: u.opts.Now().Truncate(time.Millisecond), Boot: u.opts.Facts.BootID, UpMS: uptimeMS(), From: from}
}

// statusHeader is the header of a status message: the stream's position.
func (u *Uplink) statusHeader() protocol.Header {
	ob := u.box.Load().ob
	from := ob.PendingFrom() // before LastSeq: it may only be smaller than the truth
	return u.header(ob.LastSeq(), from)
}

func (u *Uplink) statusMessage(st protocol.NodeStatus) *session.Message {
	b, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("uplink: status does not encode: %v", err)) // plain structs always encode
	}
	return &session.Message{Topic: u.topics.NodeStatus(u.opts.Node), QoS: 1, Retained: true, Payload: b}
}

// Status messages are not counted in the sequence: they carry its current
// position (the outbox's last seq) and the connection number, which pairs a will with the
// birth of the same connection.

// will is composed before every connection attempt, for the connection
// that attempt would be.
func (u *Uplink) will() *session.Message {
	return u.statusMessage(protocol.NodeStatus{Header: u.statusHeader(),
		State: protocol.StateOffline, Reason: protocol.ReasonLost, Conn: u.conn.Load() + 1})
}

func (u *Uplink) birth(h protocol.Health) *session.Message {
	facts := u.opts.Facts
	st := protocol.NodeStatus{Header: u.statusHeader(), State: protocol.StateOnline,
		Conn: u.conn.Load(), HeartbeatS: u.opts.Heartbeat.Seconds(), Facts: &facts, Recovery: u.box.Load().recovery}
	if h != (protocol.Health{}) {
		st.Health = &h
	}
	return u.statusMessage(st)
}

// currentHealth is what opts.Health says now.
func (u *Uplink) currentHealth() protocol.Health {
	if u.opts.Health == nil {
		return protocol.Health{}
	}
	return u.opts.Health()
}

func (u *Uplink) goodbye() *session.Message {
	return u.statusMessage(protocol.NodeStatus{Header: u.statusHeader(),
		State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: u.conn.Load()})
}

func (u *Uplink) onConnect(s *session.Session) {
	u.conn.Add(1)
	u.publishBirth(s)
}

func (u *Uplink) publishBirth(s *session.Session) {
	u.birthMu.Lock()
	defer u.birthMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), u.opts.Session.OpTimeout+time.Second)
	defer cancel()
	h := u.currentHealth()
	b := u.birth(h)
	if err := s.Publish(ctx, *b); err != nil {
		u.log.Warn("birth not published", "err", err)
		return
	}
	u.health.Store(&h)
	if st, err := protocol.DecodeNodeStatus(b.Payload); err == nil {
		u.bornSeq.Store(st.Seq)
	}
	u.born.Store(true)
	u.log.Info("birth published", "instance", u.instance, "conn", u.conn.Load(), "seq", u.box.Load().ob.LastSeq(),
		"disk_full", h.DiskFull)
}

// PublishMetrics stamps m with the next sequence number and commits it to
// the outbox; it returns once the report is durable, connected or not. The
// delivery loop publishes it in order.
func (u *Uplink) PublishMetrics(ctx context.Context, m protocol.Metrics) error {
	// From is read before the record is made: records are only acknowledged
	// meanwhile, so it can only be smaller than the truth, never claim a
	// pending record lost.
	ob := u.box.Load().ob
	from := ob.PendingFrom()
	if r, ok := ob.(outboxReporter); ok {
		// Only when there is something to say: an empty outbox with no
		// losses is the common case, and every byte of a report is paid
		// on every heartbeat of every node.
		if ob := r.Report(); ob != (protocol.Outbox{}) {
			m.Outbox = &ob
		}
	}
	_, err := ob.Add(ctx, KindMetrics, func(seq uint64) (string, []byte, error) {
		m.Header = u.header(seq, from)
		b, err := json.Marshal(m)
		if err != nil {
			return "", nil, fmt.Errorf("encode metrics: %w", err)
		}
		return u.topics.NodeMetrics(u.opts.Node), b, nil
	})
	if err != nil {
		return err
	}
	u.Notify()
	return nil
}

func (u *Uplink) onCommand(m session.Message) {
	nt, err := protocol.ParseNodeTopic(m.Topic)
	if err != nil || nt.Node != u.opts.Node {
		u.log.Warn("command on an unexpected topic ignored", "topic", m.Topic)
		return
	}
	switch nt.Command {
	case protocol.CmdRebirth:
		u.log.Info("scheduler asked for a rebirth")
		select {
		case u.rebirth <- struct{}{}:
		default: // one is already pending
		}
	case protocol.CmdTask:
		if u.opts.OnTask == nil {
			u.log.Warn("task command ignored: this agent runs no tasks")
			return
		}
		u.opts.OnTask(m.Payload)
	case protocol.CmdBlob:
		if u.opts.OnBlob != nil {
			u.opts.OnBlob(m.Payload)
		}
	case protocol.CmdDuplicate:
		dn, err := protocol.DecodeDuplicateNotice(m.Payload)
		if err != nil {
			u.log.Warn("invalid duplicate notice ignored", "err", err)
			return
		}
		n := u.duplicates.Add(1)
		u.log.Error("another agent is using this node id: give every device its own node_id",
			"instances_seen_by_scheduler", dn.Instances, "this_instance", u.instance, "seen", n)
	default:
		u.log.Warn("unknown command ignored", "command", nt.Command)
	}
}

// onOwnStatus watches the node's own status topic for another agent using
// this node id; both would keep taking the MQTT session from each other, so
// it says so loudly. Another instance's status — its birth, or the will the
// broker published when it was pushed off the session — is proof once this
// instance's own birth reached the broker, unless it is an earlier run of
// this agent: its goodbye on a clean restart, or its will when the broker
// notices a killed run's connection is gone, both of which can arrive after
// this run's birth. Such a status names this agent's store at or before
// this birth's position in it. A status replayed retained was left before
// this run subscribed, and proves nothing either. Without a store, only
// another instance's birth is proof.
func (u *Uplink) onOwnStatus(m session.Message) {
	if !u.born.Load() || m.Retained {
		return
	}
	st, err := protocol.DecodeNodeStatus(m.Payload)
	if err != nil || st.Instance == u.instance {
		return
	}
	if store := u.box.Load().store; store != "" {
		if st.Store == store && st.Seq <= u.bornSeq.Load() {
			return // an earlier run of this agent
		}
	} else if st.State != protocol.StateOnline {
		return // an earlier run's goodbye or will cannot be told from another agent's
	}
	n := u.duplicates.Add(1)
	host := ""
	if st.Facts != nil {
		host = st.Facts.Hostname
	}
	u.log.Error("another agent is using this node id: give every device its own node_id",
		"other_instance", st.Instance, "other_hostname", host, "seen", n)
}
