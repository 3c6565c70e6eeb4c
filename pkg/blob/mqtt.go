package blob

import (
	"context"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Over MQTT, a node's frames stay in its own subtree, which the broker's
// ACL already confines it to:
//
//	tether/v1/<region>/nodes/<node>/blob      node → scheduler (the node's wants and chunks)
//	tether/v1/<region>/nodes/<node>/cmd/blob  scheduler → node
//
// The scheduler's peer name for a node is its node id; a node's only
// peer is the scheduler, named "".

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

// SchedulerSend returns an EndpointOptions.Send for the scheduler: a frame
// for peer goes on that node's blob command topic.
func SchedulerSend(s *session.Session, t protocol.Topics) func(context.Context, string, byte, []byte) error {
	return func(ctx context.Context, peer string, qos byte, frame []byte) error {
		return s.Publish(ctx, session.Message{Topic: t.NodeCommand(peer, protocol.CmdBlob), QoS: qos, Payload: frame})
	}
}

// AttachScheduler subscribes the scheduler's endpoint to every node's
// frames; the node id in the topic names the peer.
func AttachScheduler(ctx context.Context, s *session.Session, t protocol.Topics, e *Endpoint) error {
	pre := t.Prefix() + "/nodes/"
	return s.Subscribe(ctx, t.AllNodeBlob(), 1, func(m session.Message) {
		rest := m.Topic[len(pre):] // the filter matched: <node>/blob
		node := rest[:len(rest)-len("/"+protocol.KindBlob)]
		if protocol.ValidateID("node", node) != nil {
			return
		}
		e.Handle(node, m.Payload)
	})
}
