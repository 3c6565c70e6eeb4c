package blob

import (
	"context"
	"strings"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Over MQTT, a node's frames stay in its own subtree, which the broker's
// ACL already confines it to:
//
//	tether/v1/<region>/nodes/<node>/blob      node → scheduler (the node's wants and chunks)
//	tether/v1/<region>/nodes/<node>/cmd/blob  scheduler → node
//
// An operator (tether-broker submit --input, task --output) has its own:
//
//	tether/v1/<region>/operators/<user>/blob      operator → scheduler
//	tether/v1/<region>/operators/<user>/cmd/blob  scheduler → operator
//
// The scheduler's peer name for a node is its node id, for an operator
// OperatorPeer(user); a node's or an operator's only peer is the
// scheduler, named "".

// OperatorPeerPrefix starts the scheduler's peer name for an operator. A
// node id has no '/', so the two never meet.
const OperatorPeerPrefix = "operator/"

// OperatorPeer is the scheduler's peer name for operator user.
func OperatorPeer(user string) string { return OperatorPeerPrefix + user }

// OperatorOf returns the operator a peer name stands for, if it does.
func OperatorOf(peer string) (user string, ok bool) {
	return strings.CutPrefix(peer, OperatorPeerPrefix)
}

// NodeSend returns an EndpointOptions.Send for a node: every frame goes to
// the scheduler on the node's blob topic, whatever peer says.
func NodeSend(s *session.Session, t protocol.Topics, node string) func(context.Context, string, byte, []byte) error {
	topic := t.NodeBlob(node)
	return func(ctx context.Context, _ string, qos byte, frame []byte) error {
		return s.Publish(ctx, session.Message{Topic: topic, QoS: qos, Payload: frame})
	}
}

// AttachNode subscribes a node's endpoint to the frames the scheduler
// sends it.
func AttachNode(ctx context.Context, s *session.Session, t protocol.Topics, node string, e *Endpoint) error {
	return s.Subscribe(ctx, t.NodeCommand(node, protocol.CmdBlob), 1, func(m session.Message) {
		e.Handle("", m.Payload)
	})
}

// OperatorSend returns an EndpointOptions.Send for an operator's client:
// every frame goes to the scheduler on the operator's blob topic.
func OperatorSend(s *session.Session, t protocol.Topics, user string) func(context.Context, string, byte, []byte) error {
	topic := t.OperatorBlob(user)
	return func(ctx context.Context, _ string, qos byte, frame []byte) error {
		return s.Publish(ctx, session.Message{Topic: topic, QoS: qos, Payload: frame})
	}
}

// AttachOperator subscribes an operator's endpoint to the frames the
// scheduler sends it.
func AttachOperator(ctx context.Context, s *session.Session, t protocol.Topics, user string, e *Endpoint) error {
	return s.Subscribe(ctx, t.OperatorBlobCommand(user), 1, func(m session.Message) {
		e.Handle("", m.Payload)
	})
}

// SchedulerSend returns an EndpointOptions.Send for the scheduler: a frame
// for peer goes on that node's, or that operator's, blob command topic.
func SchedulerSend(s *session.Session, t protocol.Topics) func(context.Context, string, byte, []byte) error {
	return func(ctx context.Context, peer string, qos byte, frame []byte) error {
		topic := t.NodeCommand(peer, protocol.CmdBlob)
		if user, ok := OperatorOf(peer); ok {
			topic = t.OperatorBlobCommand(user)
		}
		return s.Publish(ctx, session.Message{Topic: topic, QoS: qos, Payload: frame})
	}
}

// AttachScheduler subscribes the scheduler's endpoint to every node's and
// every operator's frames; the node id or the operator's name in the topic
// names the peer.
func AttachScheduler(ctx context.Context, s *session.Session, t protocol.Topics, e *Endpoint) error {
	attach := func(filter, pre, peerPrefix string) error {
		return s.Subscribe(ctx, filter, 1, func(m session.Message) {
			rest := m.Topic[len(pre):] // the filter matched: <id>/blob
			id := rest[:len(rest)-len("/"+protocol.KindBlob)]
			if protocol.ValidateID("peer", id) != nil {
				return
			}
			e.Handle(peerPrefix+id, m.Payload)
		})
	}
	if err := attach(t.AllNodeBlob(), t.Prefix()+"/nodes/", ""); err != nil {
		return err
	}
	return attach(t.AllOperatorBlob(), t.Prefix()+"/operators/", OperatorPeerPrefix)
}
