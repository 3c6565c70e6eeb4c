package mqttd

import (
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
//   - a scheduler or monitor may use its username as client id, or
//     "<username>@<anything>", or an empty client id (the broker assigns
//     one); since '@' is never in a node id, it cannot take over a node's
//     or another user's session either;
//   - a will message must go to a topic the user may publish to (mochi
//     itself publishes wills without an ACL check).
//
// ACL: policy.allowed, for SUBSCRIBE filters and again for every delivered
// message.
type authHook struct {
	mqtt.HookBase
	policy    *policy
	creds     *atomic.Pointer[Credentials] // nil pointer value: no file
	anonymous bool
}

func (h *authHook) ID() string { return "tether-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate decides whether a client may connect.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if reason := h.refuse(cl, user, string(pk.Connect.Password)); reason != "" {
		h.Log.Info("refused connection", "client", cl.ID, "user", user, "remote", cl.Net.Remote, "reason", reason)
		return false
	}
	h.Log.Debug("client authenticated", "client", cl.ID, "user", user, "role", h.policy.roleOf(user), "remote", cl.Net.Remote)
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
	if r == roleNode {
		if err := protocol.ValidateID("node id", user); err != nil {
			return "username is not a valid node id: " + err.Error()
		}
		if cl.ID != user {
			return "a node's client id must equal its username (its node id)"
		}
	} else if cl.Properties.Props.AssignedClientID == "" && cl.ID != user && !strings.HasPrefix(cl.ID, user+"@") {
		return "client id must be the username, username@suffix, or empty"
	}

	if cl.Properties.Will.Flag == 1 && !h.policy.allowed(r, user, cl.Properties.Will.TopicName, true) {
		return "will topic " + cl.Properties.Will.TopicName + " is not writable by this user"
	}
	return ""
}

// OnACLCheck reports whether cl may publish to (write) or subscribe to and
// receive (read) topic.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
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
	}
	ok := h.policy.allowed(r, user, topic, write)
	if !ok && write {
		h.Log.Debug("denied publish", "client", cl.ID, "topic", topic)
	}
	return ok
}
