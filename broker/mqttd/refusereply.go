package mqttd

import (
	"encoding/json"
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/protocol"
)

// A task request (submit or control) from a user who may not make one is
// dropped, and an MQTT 3.1.1 client cannot be told: it gets a plain PUBACK.
// So the broker answers the request itself, as the scheduler would: a QoS 0
// reply written to the requester's own connection only (no other client
// sees it), on the reply topic the request names — if that is the
// requester's replies subtree, tether/v1/<region>/replies/<user>/<id>,
// where a requester waits for its answer. One refused request is one
// reply to its sender: nothing to amplify.

// refusedRequest is what is read of a refused request's payload.
type refusedRequest struct {
	RequestID string `json:"request_id"`
	ReplyTo   string `json:"reply_to"`
}

// answerRefused publishes, for a task request cl may not make, a reply
// saying why. It returns whether it did.
func (h *authHook) answerRefused(cl *mqtt.Client, pk packets.Packet) bool {
	if pk.TopicName != h.policy.submit && pk.TopicName != h.policy.control {
		return false
	}
	user := string(cl.Properties.Username)
	var req refusedRequest
	if json.Unmarshal(pk.Payload, &req) != nil || protocol.ValidateID("request id", req.RequestID) != nil ||
		protocol.ValidateID("username", user) != nil ||
		req.ReplyTo != h.policy.regionTopic+"/replies/"+user+"/"+req.RequestID {
		return false
	}
	what := "submit tasks"
	if pk.TopicName == h.policy.control {
		what = "cancel or list through the control topic"
	}
	reply, _ := json.Marshal(map[string]any{ // task.Reply's fields
		"v": protocol.Version, "request_id": req.RequestID, "ok": false,
		"error": fmt.Sprintf("not allowed: %s is a %s and may not %s; only operator_users may", user, h.policy.roleOf(user), what),
	})
	// Before mochi's PUBACK; cl.WritePacket serialises with mochi's
	// writes to cl.
	if err := cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: req.ReplyTo, Payload: reply}); err != nil {
		h.Log.Debug("answering a refused request", "client", cl.ID, "err", err)
		return false
	}
	return true
}

// ownReplyTo reports whether a task request's reply_to, if it names a
// topic in this region's replies tree (tether/v1/<region>/replies/…), names
// the publisher's own subtree (…/replies/<user>/…), so no requester can
// make the scheduler answer into another user's reply topic. Anything else
// — no reply_to, another region's, not a replies topic, a payload that
// does not decode — is left to the scheduler, which refuses it, counts it
// and cannot answer it either.
func (p *policy) ownReplyTo(user string, payload []byte) bool {
	var req refusedRequest
	if json.Unmarshal(payload, &req) != nil {
		return true
	}
	tree := p.regionTopic + "/replies/"
	if !strings.HasPrefix(req.ReplyTo, tree) {
		return true
	}
	own := tree + user + "/"
	return len(req.ReplyTo) > len(own) && strings.HasPrefix(req.ReplyTo, own)
}
