package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *scheduler) status(state, reason string) *session.Message {
	b, _ := json.Marshal(protocol.SchedulerStatus{V: protocol.Version, State: state, Reason: reason,
		Instance: s.instance, Version: s.o.Version, TS: protocol.Now(), Epoch: s.o.Epoch})
	return &session.Message{Topic: s.topics.SchedulerStatus(), QoS: 1, Retained: true, Payload: b}
}

func (s *scheduler) onConnect(sess *session.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sess.Publish(ctx, *s.status(protocol.StateOnline, "")); err != nil {
		s.log.Warn("scheduler status not published", "err", err)
	}
	s.fleet.LinkUp()
	s.viewEpoch.Add(1) // the broker may have lost the retained rows: publish them all again
	s.fleet.Touch()
}

// onSubscribed runs once every route's subscription is in force on a
// connection: only then is the scheduler ready, since a route the broker
// refused (a NATS node that could not create its JetStream consumer in
// time) would leave its messages unread.
func (s *scheduler) onSubscribed(sess *session.Session) {
	s.ready.Do(func() {
		s.readyOnce.Store(true)
		s.log.Info("scheduler ready", "region", s.cfg.Region, "instance", s.instance)
		if s.o.OnReady != nil {
			s.o.OnReady(sess.Broker())
		}
	})
}

// nodeOf checks that a message's topic names the node its payload claims:
// the broker's ACL binds topics to credentials, so this binds the payload.
func nodeOf(topic, payloadNode string) error {
	nt, err := protocol.ParseNodeTopic(topic)
	if err != nil {
		return err
	}
	if nt.Node != payloadNode {
		return errors.New("payload node " + payloadNode + " does not match topic node " + nt.Node)
	}
	return nil
}

func (s *scheduler) reject(m session.Message, err error) {
	s.fleet.Reject()
	s.rejects.Warn("invalid message dropped", "topic", m.Topic, "bytes", len(m.Payload), "err", err)
}

func (s *scheduler) onStatus(m session.Message) {
	s.countNodeBytes(m)
	st, err := protocol.DecodeNodeStatus(m.Payload)
	if err == nil {
		err = nodeOf(m.Topic, st.Node)
	}
	if err != nil {
		s.reject(m, err)
		return
	}
	if r := st.Recovery; r != nil && st.State == protocol.StateOnline && !m.Retained {
		s.log.Error("node replaced a damaged store: what it held was lost", "node", st.Node,
			"reason", r.Reason, "at", r.At, "moved_to", r.MovedTo)
	}
	s.act(st.Node, s.fleet.HandleStatus(st, m.Retained))
	if est, ok := s.links.Get(st.Node); ok {
		// A node the fleet learns of (after a restart, the estimates
		// restored from links.json) shows its link before the next
		// measurement.
		s.fleet.SetLink(st.Node, linkRow(est))
	}
	s.nodeChanged(st.Node)
	s.log.Debug("node status", "node", st.Node, "state", st.State, "reason", st.Reason, "retained", m.Retained)
}

func (s *scheduler) onMetrics(m session.Message) {
	s.countNodeBytes(m)
	mm, err := protocol.DecodeMetrics(m.Payload)
	if err == nil {
		err = nodeOf(m.Topic, mm.Node)
	}
	if err != nil {
		s.reject(m, err)
		return
	}
	s.traceCounted(mm.Node, mm.Seq, "metrics")
	s.act(mm.Node, s.fleet.HandleMetrics(mm))
}

// traceCounted logs, at debug level only, each counted message (a node's
// metrics or task event) as it reaches the fleet: node, seq and kind, never
// the payload. Which scheduler received which seq can then be read from
// the logs of all of a region's schedulers (broker/e2e's failover test
// does). One line per message: at fleet scale, debug is for diagnosis.
func (s *scheduler) traceCounted(node string, seq uint64, kind string) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("node message", "node", node, "seq", seq, "kind", kind)
	}
}

type nodeAction struct {
	node string
	act  fleet.Actions
}

// act queues the fleet's requests for commandLoop: publishing waits for a
// PUBACK, which the receive path this runs on would have to read.
func (s *scheduler) act(node string, a fleet.Actions) {
	if a == 0 {
		return
	}
	select {
	case s.actions <- nodeAction{node, a}:
	default: // queue full: the fleet asks again on a later message
	}
}

// maxCommands bounds the commands in flight at once.
const maxCommands = 64

// commandTimeout bounds one command's wait for its PUBACK.
const commandTimeout = 5 * time.Second

// commandLoop sends the commands the fleet asked for, each on its own,
// at most maxCommands at once and one per node: a node that stops
// acknowledging its commands fills its session, and the broker then
// refuses the next command to it without a PUBACK, so that publish waits
// out commandTimeout. It must not hold the commands to every other node
// meanwhile. A request for a node whose command is still in flight is
// dropped: the fleet asks again on a later message.
func (s *scheduler) commandLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxCommands)
	var mu sync.Mutex
	busy := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case na := <-s.actions:
			mu.Lock()
			if busy[na.node] {
				mu.Unlock()
				continue
			}
			busy[na.node] = true
			mu.Unlock()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer func() {
					mu.Lock()
					delete(busy, na.node)
					mu.Unlock()
					<-slots
					wg.Done()
				}()
				s.commandsFor(ctx, na)
			}()
		}
	}
}

// commandsFor sends what na asks of its node.
func (s *scheduler) commandsFor(ctx context.Context, na nodeAction) {
	if na.act&fleet.WarnDuplicate != 0 {
		instances := s.fleet.Instances(na.node)
		s.log.Error("node id used by more than one agent: give every device its own node_id",
			"node", na.node, "instances", instances)
		b, _ := json.Marshal(protocol.DuplicateNotice{V: protocol.Version, Node: na.node, Instances: instances, TS: protocol.Now()})
		s.command(ctx, na.node, protocol.CmdDuplicate, b)
	}
	if na.act&fleet.AskRebirth != 0 {
		s.command(ctx, na.node, protocol.CmdRebirth, nil)
	}
}

func (s *scheduler) command(ctx context.Context, node, name string, payload []byte) {
	pctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if err := s.sess.Publish(pctx, session.Message{Topic: s.topics.NodeCommand(node, name), QoS: 1, Payload: payload}); err != nil {
		s.unsent.Warn("command not sent", "node", node, "command", name, "err", err)
		return
	}
	s.log.Debug("command sent", "node", node, "command", name)
}

func (s *scheduler) sweepLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.sess.Connected() {
				// The silence is the scheduler's own: judge no node
				// until onConnect says the link is back.
				s.fleet.LinkDown()
				continue
			}
			for _, id := range s.fleet.Sweep() {
				s.log.Warn("node offline: heartbeat overdue", "node", id)
			}
			s.syncNodes()
		}
	}
}
