package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/protocol"
)

// monitor is the stream checker: a read-only client subscribed to the
// whole tree, as `mosquitto_sub -c -t 'tether/v1/#'` is. Its session is
// persistent (clean session false), so a broker must deliver it each
// message it acknowledged, as it must to the scheduler's. The embedded
// broker waits only for schedulers' and nodes' sessions (a read-only
// credential must not be able to hold the fleet), so there the checker
// connects as the scheduler's user (Options.Monitor; scripts/load.sh and
// this package's tests do); as a monitor it would lose what overflows its
// queue (1,024) when it falls behind, by design. Of the generator's own
// nodes only (a region's other nodes, real agents among them, are not its
// to account) it records which seqs of which node it received, each
// node's latest status, the latest row of the scheduler's fleet view per
// node and how late live reports arrive; and the bytes of each kind.
type monitor struct {
	g                  *Generator
	id, user, password string
	reconnects         atomic.Int64
	broker             int // index in the generator's addrs of the one to dial next; dial's

	w *wire // guarded by mu

	mu       sync.Mutex // guards the fields below
	seen     map[string]*seenSeqs
	status   map[string]protocol.NodeStatus
	rows     map[string]protocol.FleetNode // the scheduler's view: the latest row of each node
	lags     []time.Duration
	recordLg bool

	reportBytes atomic.Int64 // node reports and statuses
	fleetBytes  atomic.Int64 // fleet rows and summary
	otherBytes  atomic.Int64
	closed      atomic.Bool
}

// seenSeqs is a bitset of the seqs received from one node.
type seenSeqs struct {
	bits  []uint64
	count int
}

func (s *seenSeqs) add(seq uint64) bool {
	i := int(seq / 64)
	for len(s.bits) <= i {
		s.bits = append(s.bits, 0)
	}
	m := uint64(1) << (seq % 64)
	if s.bits[i]&m != 0 {
		return false
	}
	s.bits[i] |= m
	s.count++
	return true
}

func (s *seenSeqs) has(seq uint64) bool {
	i := int(seq / 64)
	return i < len(s.bits) && s.bits[i]&(uint64(1)<<(seq%64)) != 0
}

func startMonitor(ctx context.Context, g *Generator, user, password string) (*monitor, error) {
	m := &monitor{g: g, id: user + "@loadgen-" + hex16(uint64(time.Now().UnixNano()))[:8], user: user, password: password,
		seen: map[string]*seenSeqs{}, status: map[string]protocol.NodeStatus{}, rows: map[string]protocol.FleetNode{}}
	var err error
	for range g.addrs { // each broker once
		if err = m.dial(); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	go m.pinger(ctx)
	return m, nil
}

// dial connects the monitor's persistent session (the same client id each
// time, clean session false) and subscribes. A broker it could not
// connect to is left for the next one of the generator's addrs.
func (m *monitor) dial() error {
	o := &m.g.opts
	addr := m.g.addrs[m.broker]
	w, err := dialWire(addr, o.ConnectTimeout, nil)
	if err == nil {
		if _, err = w.connect(m.id, m.user, m.password, false, o.KeepAlive, nil, o.ConnectTimeout); err != nil {
			w.close()
		}
	}
	if err != nil {
		m.broker = (m.broker + 1) % len(m.g.addrs)
		return fmt.Errorf("monitor %s on %s: %w", m.user, addr, err)
	}
	if err := w.write(subscribePacket(1, protocol.Root+"/"+m.g.topics.Region()+"/#")); err != nil {
		w.close()
		return fmt.Errorf("monitor: %w", err)
	}
	m.mu.Lock()
	m.w = w
	m.mu.Unlock()
	if m.closed.Load() { // close came while this dialled
		w.close()
	}
	return nil
}

// pinger keeps the monitor's connection alive; the read loop is run.
func (m *monitor) pinger(ctx context.Context) {
	t := time.NewTicker(m.g.opts.KeepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.mu.Lock()
			_ = m.w.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			m.mu.Unlock()
		}
	}
}

// run reads until close. A connection that ends before is dialled again,
// a second apart, until it is back or ctx ends: the session is
// persistent, so the broker keeps for it what it acknowledged meanwhile,
// and what it did not deliver still counts as lost.
func (m *monitor) run(ctx context.Context) error {
	for {
		err := m.read()
		if m.closed.Load() || ctx.Err() != nil {
			return err
		}
		m.reconnects.Add(1)
		m.g.opts.Logger.Warn("the monitor's connection ended; connecting again", "err", err)
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			if m.closed.Load() {
				return err
			}
			if derr := m.dial(); derr == nil {
				break
			} else {
				m.g.opts.Logger.Debug("the monitor could not connect", "err", derr)
			}
		}
	}
}

// read reads the current connection until it ends.
func (m *monitor) read() error {
	m.mu.Lock()
	w := m.w
	m.mu.Unlock()
	for {
		pk, err := w.read()
		if err != nil {
			return err
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		if pk.FixedHeader.Qos > 0 {
			m.mu.Lock()
			err := w.write(pubackPacket(pk.PacketID))
			m.mu.Unlock()
			if err != nil {
				return err
			}
		}
		m.observe(pk.TopicName, pk.Payload, time.Now())
	}
}

// header is the part of a node message the checker reads.
type header struct {
	Node  string    `json:"node"`
	Seq   uint64    `json:"seq"`
	TS    time.Time `json:"ts"`
	State string    `json:"state"`
}

func (m *monitor) observe(topic string, payload []byte, now time.Time) {
	size := int64(len(topic) + len(payload) + 4)
	if strings.Contains(topic, "/fleet/") {
		m.fleetBytes.Add(size)
		if id, ok := strings.CutPrefix(topic, m.g.topics.Prefix()+"/fleet/nodes/"); ok && m.g.own[id] {
			id = strings.Clone(id) // the topic aliases the wire's read buffer
			row, err := protocol.DecodeFleetRow(payload)
			m.mu.Lock()
			if err == nil {
				m.rows[id] = row.FleetNode
			} else if len(payload) == 0 {
				delete(m.rows, id) // cleared
			}
			m.mu.Unlock()
		}
		return
	}
	nt, err := protocol.ParseNodeTopic(topic)
	if err != nil {
		m.otherBytes.Add(size)
		return
	}
	if !m.g.own[nt.Node] { // another node of the region (a real agent)
		m.otherBytes.Add(size)
		return
	}
	nt.Node = strings.Clone(nt.Node) // the topic aliases the wire's read buffer
	m.reportBytes.Add(size)
	switch nt.Kind {
	case protocol.KindStatus:
		st, err := protocol.DecodeNodeStatus(payload)
		if err != nil {
			return
		}
		m.mu.Lock()
		m.status[nt.Node] = st
		m.mu.Unlock()
	case protocol.KindMetrics, protocol.KindTasks:
		var h header
		if json.Unmarshal(payload, &h) != nil || h.Seq == 0 {
			return
		}
		m.mu.Lock()
		s := m.seen[nt.Node]
		if s == nil {
			s = &seenSeqs{}
			m.seen[nt.Node] = s
		}
		if s.add(h.Seq) && m.recordLg {
			m.lags = append(m.lags, now.Sub(h.TS))
		}
		m.mu.Unlock()
	}
}

// recordLags turns lag recording on (steady state) or off.
func (m *monitor) recordLags(on bool) {
	m.mu.Lock()
	m.recordLg = on
	m.mu.Unlock()
}

// row returns the scheduler's latest row for node id.
func (m *monitor) row(id string) (protocol.FleetNode, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[id]
	return r, ok
}

// fleetOnline counts the rows that say online.
func (m *monitor) fleetOnline() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.rows {
		if r.Online {
			n++
		}
	}
	return n
}

// freshness is the oldest last_seen of an online node in the rows.
func (m *monitor) freshness(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d time.Duration
	for _, r := range m.rows {
		if r.Online && now.Sub(r.LastSeen) > d {
			d = now.Sub(r.LastSeen)
		}
	}
	return d
}

// close ends the monitor. It first unsubscribes, so its persistent session
// queues nothing more for the week the broker keeps it; best effort, the
// connection may already be gone.
func (m *monitor) close() {
	m.closed.Store(true)
	m.mu.Lock()
	_ = m.w.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 2,
		Filters: packets.Subscriptions{{Filter: protocol.Root + "/" + m.g.topics.Region() + "/#"}}})
	_ = m.w.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	m.mu.Unlock()
	m.w.close()
}
