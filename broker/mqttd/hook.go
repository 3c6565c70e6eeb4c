package mqttd

import (
	"slices"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/protocol"
)

// authHook is Tether's authentication and ACL for mochi.
//
// Connect rules, checked in OnConnectAuthenticate (a refusal is CONNACK
// 0x05 "not authorized" for MQTT 3.1.1, 0x86 for MQTT 5):
//   - the password must match the credentials file; with AllowAnonymous, a
//     user not in the file (or no username) needs none;
//   - a node's username must be a valid node id, and its client id must
//     equal its username: a node cannot take over another client's
//     session (mochi, like any broker, disconnects the older client with
//     the same client id and hands its session to the newer one);
//   - a scheduler or operator may use its username as client id, or
//     "<username>@<anything>", or an empty client id (the broker assigns
//     one); since '@' is never in a node id, it cannot take over a node's
//     or another user's session either;
//   - a monitor may use any client id (tools pick their own: nodered_…,
//     mqttjs_…, empty) except another user's name, "<another user>@…", or
//     the id of a session (connected or kept) that belongs to another user;
//   - an enrolment identity ("enrol-<token id>") must use client id
//     "<username>@<node id>": its topics are that node's enrolment request
//     and reply;
//   - a will message must go to a topic the user may publish to (mochi
//     itself publishes wills without an ACL check).
//
// Publishes are judged in OnPublish, not OnACLCheck, so that a refused QoS
// 1 publish is acknowledged instead of closing the connection (mochi closes
// an MQTT 3.1.1 client whose publish OnACLCheck refuses): MQTT 5 clients
// get PUBACK 0x87 (0x97 over a retained quota), MQTT 3.1.1 clients a PUBACK
// and the message is dropped, as Mosquitto does. A publish to a topic mochi
// drops unacknowledged ($SYS/…, wildcards) is acknowledged in
// OnPacketRead.
//
// ACL for SUBSCRIBE filters and every delivered message: OnACLCheck, with
// policy.allowed.
type authHook struct {
	mqtt.HookBase
	policy    *policy
	creds     *atomic.Pointer[Credentials] // nil pointer value: no file
	anonymous bool
	// sessions are mochi's clients, connected or with a kept session; nil
	// in unit tests.
	sessions *mqtt.Clients
	// schedulerPacket is a scheduler's packet limit (MaxPacketSize); other
	// roles keep their connection's default (MaxClientPacketSize).
	schedulerPacket int
	retained        *retainedQuota
	// maxSubs is the filters a client other than a scheduler may hold
	// (Options.MaxSubscriptionsPerClient); -1: no limit.
	maxSubs int
}

func (h *authHook) ID() string { return "tether-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnPacketRead, mqtt.OnRetainMessage, mqtt.OnSubscribe:
		return true
	}
	return false
}

// OnConnectAuthenticate decides whether a client may connect.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if reason := h.refuse(cl, user, string(pk.Connect.Password)); reason != "" {
		h.Log.Info("refused connection", "client", cl.ID, "user", user, "remote", cl.Net.Remote, "reason", reason)
		return false
	}
	r := h.policy.roleOf(user)
	if gc, ok := cl.Net.Conn.(*guardedConn); ok {
		if r == roleScheduler {
			gc.authenticated(h.schedulerPacket)
		} else {
			gc.authenticated(int(gc.limit.Load()))
		}
	}
	h.Log.Debug("client authenticated", "client", cl.ID, "user", user, "role", r, "remote", cl.Net.Remote)
	return true
}

// refuse returns why the client may not connect, or "".
func (h *authHook) refuse(cl *mqtt.Client, user, password string) string {
	creds := h.creds.Load()
	switch {
	case creds != nil && creds.Has(user):
		if !creds.Verify(user, password) {
			return "wrong password"
		}
	case h.anonymous:
	case user == "":
		return "no username"
	default:
		if creds != nil {
			creds.Verify(user, password) // same cost as a known user
		}
		return "unknown user"
	}

	r := h.policy.roleOf(user)
	assigned := cl.Properties.Props.AssignedClientID != ""
	switch {
	case r == roleNode:
		if err := protocol.ValidateID("node id", user); err != nil {
			return "username is not a valid node id: " + err.Error()
		}
		if cl.ID != user {
			return "a node's client id must equal its username (its node id)"
		}
	case r == roleMonitor:
		if reason := h.monitorClientID(cl.ID, user, assigned); reason != "" {
			return reason
		}
	case r == roleEnrol:
		node, ok := strings.CutPrefix(cl.ID, user+"@")
		if !ok || protocol.ValidateID("node id", node) != nil {
			return "an enrolment identity's client id must be username@<node id>"
		}
	case !assigned && cl.ID != user && !strings.HasPrefix(cl.ID, user+"@"):
		return "client id must be the username, username@suffix, or empty"
	}

	if cl.Properties.Will.Flag == 1 && !h.policy.allowed(r, user, cl.Properties.Will.TopicName, true) {
		return "will topic " + cl.Properties.Will.TopicName + " is not writable by this user"
	}
	return ""
}

// monitorClientID returns why a monitor may not use client id id, or "".
// Any id is fine that cannot take over another user's session: not another
// user's name (a node's client id is its name), not "<another user>@…"
// (schedulers and operators use those), and not the id of a session that
// another user holds (a node of an anonymous broker, or any id a client of
// another user chose).
func (h *authHook) monitorClientID(id, user string, assigned bool) string {
	if assigned || id == user {
		return ""
	}
	base, _, _ := strings.Cut(id, "@")
	creds := h.creds.Load()
	for _, name := range []string{id, base} {
		if name != user && (h.policy.known(name) || (creds != nil && creds.Has(name))) {
			return "client id " + id + " belongs to another user"
		}
	}
	if h.sessions != nil {
		if other, ok := h.sessions.Get(id); ok && string(other.Properties.Username) != user {
			return "client id " + id + " is another user's session"
		}
	}
	return ""
}

// OnACLCheck reports whether cl may subscribe to and receive (read) topic.
// Writes are judged in OnPublish (see authHook), so it allows every write.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	return h.may(cl, topic, false)
}

// may is the ACL for cl on topic.
func (h *authHook) may(cl *mqtt.Client, topic string, write bool) bool {
	u := cl.Properties.Username
	r := h.policy.roleOf(string(u)) // map lookup: no allocation
	user := ""
	if r == roleNode {
		// Connect guaranteed client id == username for nodes; use the id
		// (a string already) to avoid converting the username per message.
		if string(u) != cl.ID {
			return false
		}
		user = cl.ID
	} else if r == roleEnrol {
		// Connect guaranteed client id == username@node.
		if len(cl.ID) <= len(u) || cl.ID[len(u)] != '@' || cl.ID[:len(u)] != string(u) {
			return false
		}
		user = cl.ID[len(u)+1:]
	} else if r == roleOperator {
		user = h.policy.operatorName(u) // its own blob topics are named after it
	}
	return h.policy.allowed(r, user, topic, write)
}

// OnPublish refuses a publish the ACL denies, or a retained publish over
// the client's retained quota. See refusal for what the client sees.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if !h.may(cl, pk.TopicName, true) {
		h.Log.Info("denied publish", "client", cl.ID, "user", string(cl.Properties.Username), "topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
		h.answerRefused(cl, pk)
		return pk, refusal(cl, pk, packets.ErrNotAuthorized)
	}
	if (pk.TopicName == h.policy.submit || pk.TopicName == h.policy.control) && !h.policy.ownReplyTo(string(cl.Properties.Username), pk.Payload) {
		h.Log.Info("denied task request: its reply_to is not the requester's replies subtree", "client", cl.ID,
			"user", string(cl.Properties.Username), "topic", pk.TopicName)
		return pk, refusal(cl, pk, packets.ErrNotAuthorized)
	}
	if pk.FixedHeader.Retain && h.retained != nil && h.policy.roleOf(string(cl.Properties.Username)) != roleScheduler {
		if !h.retained.admit(cl.ID, pk.TopicName, len(pk.Payload)) {
			h.Log.Warn("refused retained publish: the client's retained quota is full", "client", cl.ID, "topic", pk.TopicName,
				"bytes", len(pk.Payload), "max_count", h.retained.maxCount, "max_bytes", h.retained.maxBytes)
			return pk, refusal(cl, pk, packets.ErrQuotaExceeded)
		}
	}
	return pk, nil
}

// refusal is what OnPublish returns to make mochi drop pk and still answer
// the client: QoS 0 is dropped; MQTT 5 QoS 1 gets PUBACK with code; any
// other QoS 1 or 2 publish is acknowledged as usual and dropped (MQTT 3.1.1
// has no negative acknowledgement, and mochi would answer an MQTT 5 QoS 2
// refusal with a PUBACK instead of a PUBREC).
func refusal(cl *mqtt.Client, pk packets.Packet, code packets.Code) error {
	switch {
	case pk.FixedHeader.Qos == 0:
		return packets.ErrRejectPacket
	case pk.FixedHeader.Qos == 1 && cl.Properties.ProtocolVersion == 5:
		return code
	}
	return packets.CodeSuccessIgnore
}

// OnPacketRead acknowledges a QoS 1 or 2 publish to a topic name mochi
// drops without an acknowledgement ($SYS/…, or one with a wildcard): a
// client would otherwise wait for its PUBACK forever. The packet goes on
// to mochi, which drops it.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || cl.Net.Inline ||
		pk.TopicName == "" || mqtt.IsValidFilter(pk.TopicName, true) {
		return pk, nil
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    pk.PacketID,
		ReasonCode:  packets.ErrNotAuthorized.Code, // written for MQTT 5 only
	}
	if pk.FixedHeader.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec // [MQTT-4.3.3-8]; a reason ≥ 0x80 ends the flow
	}
	ack.Properties.ReasonString = packets.ErrNotAuthorized.Reason
	h.Log.Info("denied publish", "client", cl.ID, "user", string(cl.Properties.Username), "topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
	if err := cl.WritePacket(ack); err != nil {
		h.Log.Debug("acknowledging a refused publish", "client", cl.ID, "err", err)
	}
	return pk, nil
}

// OnRetainMessage keeps the retained quotas' accounting: mochi calls it for
// every retained publish, whoever made it (a client's will too).
func (h *authHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, _ int64) {
	if h.retained == nil {
		return
	}
	owner := ""
	if !cl.Net.Inline && h.policy.roleOf(string(cl.Properties.Username)) != roleScheduler {
		owner = cl.ID
	}
	h.retained.set(owner, pk.TopicName, len(pk.Payload))
}

// overLimitFilter is not a valid topic filter ('#' must come last), so
// mochi refuses it in the SUBACK: what a filter over a client's limit is
// made into.
const overLimitFilter = "#/over-limit"

// OnSubscribe refuses the filters that would take a client other than a
// scheduler past its subscription limit (Options.MaxSubscriptionsPerClient);
// a filter it holds already is replaced, not added, so it always passes.
// OnACLCheck cannot do it: mochi asks it about filters and delivered topic
// names alike, and a name is not one more subscription.
func (h *authHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if h.maxSubs < 0 || cl.Net.Inline || h.policy.roleOf(string(cl.Properties.Username)) == roleScheduler {
		return pk
	}
	held := cl.State.Subscriptions.Len()
	var filters packets.Subscriptions
	for i, sub := range pk.Filters {
		if _, ok := cl.State.Subscriptions.Get(sub.Filter); ok {
			continue
		}
		if held < h.maxSubs {
			held++
			continue
		}
		if filters == nil {
			filters = slices.Clone(pk.Filters)
		}
		filters[i].Filter = overLimitFilter
		h.Log.Info("denied subscription: the client holds its limit of filters", "client", cl.ID,
			"user", string(cl.Properties.Username), "filter", sub.Filter, "limit", h.maxSubs)
	}
	if filters != nil {
		pk.Filters = filters
	}
	return pk
}
