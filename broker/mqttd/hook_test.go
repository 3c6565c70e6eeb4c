package mqttd

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func newTestClient(user, id string) *mqtt.Client {
	cl := &mqtt.Client{ID: id}
	cl.Properties.Username = []byte(user)
	return cl
}

func newTestHook(t testing.TB, anonymous bool, users ...string) *authHook {
	t.Helper()
	var creds atomic.Pointer[Credentials]
	if len(users) > 0 {
		var file strings.Builder
		for _, u := range users {
			h, err := HashPassword("pw-" + u)
			if err != nil {
				t.Fatal(err)
			}
			file.WriteString(u + ":" + h + "\n")
		}
		c, err := parseCredentials([]byte(file.String()))
		if err != nil {
			t.Fatal(err)
		}
		creds.Store(c)
	}
	h := &authHook{policy: testPolicy(), creds: &creds, anonymous: anonymous}
	h.Log = slog.New(slog.DiscardHandler)
	return h
}

func TestConnectRules(t *testing.T) {
	type conn struct {
		user, pw, id string
		assigned     bool   // empty client id: the broker assigned id
		will         string // will topic, if any
	}
	tests := []struct {
		name      string
		anonymous bool
		c         conn
		want      string // "" = accepted, else part of the reason
	}{
		{"node", false, conn{user: "node-a", pw: "pw-node-a", id: "node-a"}, ""},
		{"wrong password", false, conn{user: "node-a", pw: "nope", id: "node-a"}, "wrong password"},
		{"empty password", false, conn{user: "node-a", id: "node-a"}, "wrong password"},
		{"unknown user", false, conn{user: "node-x", pw: "pw-node-x", id: "node-x"}, "unknown user"},
		{"anonymous refused", false, conn{id: "x"}, "no username"},
		{"node with other client id", false, conn{user: "node-a", pw: "pw-node-a", id: "node-b"}, "client id must equal"},
		{"node with suffixed client id", false, conn{user: "node-a", pw: "pw-node-a", id: "node-a@x"}, "client id must equal"},
		{"node with assigned client id", false, conn{user: "node-a", pw: "pw-node-a", id: "d0xyz", assigned: true}, "client id must equal"},
		{"node with own will", false, conn{user: "node-a", pw: "pw-node-a", id: "node-a", will: "tether/v1/eu-1/nodes/node-a/status"}, ""},
		{"node with another's will", false, conn{user: "node-a", pw: "pw-node-a", id: "node-a", will: "tether/v1/eu-1/nodes/node-b/status"}, "will topic"},
		{"node with cmd will", false, conn{user: "node-a", pw: "pw-node-a", id: "node-a", will: "tether/v1/eu-1/nodes/node-a/cmd/rebirth"}, "will topic"},
		{"invalid node id", false, conn{user: "-bad", pw: "pw--bad", id: "-bad"}, "not a valid node id"},
		{"scheduler", false, conn{user: "scheduler", pw: "pw-scheduler", id: "scheduler"}, ""},
		{"scheduler suffixed id", false, conn{user: "scheduler", pw: "pw-scheduler", id: "scheduler@eu-1"}, ""},
		{"scheduler takes node id", false, conn{user: "scheduler", pw: "pw-scheduler", id: "node-a"}, "client id must be"},
		{"monitor assigned id", false, conn{user: "monitor", pw: "pw-monitor", id: "d0xyz", assigned: true}, ""},
		{"monitor takes scheduler id", false, conn{user: "monitor", pw: "pw-monitor", id: "scheduler"}, "belongs to another user"},
		{"monitor takes scheduler@ id", false, conn{user: "monitor", pw: "pw-monitor", id: "scheduler@eu-1"}, "belongs to another user"},
		{"monitor takes node id", false, conn{user: "monitor", pw: "pw-monitor", id: "node-a"}, "belongs to another user"},
		{"monitor takes node@ id", false, conn{user: "monitor", pw: "pw-monitor", id: "node-a@x"}, "belongs to another user"},
		{"monitor Node-RED id", false, conn{user: "monitor", pw: "pw-monitor", id: "nodered_abc123"}, ""},
		{"monitor mqtt.js id", false, conn{user: "monitor", pw: "pw-monitor", id: "mqttjs_4f2a91c0"}, ""},
		{"monitor suffixed id", false, conn{user: "monitor", pw: "pw-monitor", id: "monitor@cli"}, ""},
		{"operator Node-RED id", false, conn{user: "operator", pw: "pw-operator", id: "nodered_abc123"}, "client id must be"},
		{"monitor with will", false, conn{user: "monitor", pw: "pw-monitor", id: "monitor", will: "tether/v1/eu-1/fleet/summary"}, "will topic"},
		{"scheduler will", false, conn{user: "scheduler", pw: "pw-scheduler", id: "scheduler", will: "tether/v1/eu-1/scheduler/status"}, ""},
		{"anonymous allowed", true, conn{id: "", assigned: true}, ""},
		{"anonymous unknown node", true, conn{user: "node-x", id: "node-x"}, ""},
		{"anonymous mode still checks known users", true, conn{user: "node-a", pw: "nope", id: "node-a"}, "wrong password"},
		{"anonymous mode invalid node id", true, conn{user: "a/b", id: "a/b"}, "not a valid node id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHook(t, tt.anonymous, "node-a", "node-b", "scheduler", "monitor", "operator", "-bad")
			cl := newTestClient(tt.c.user, tt.c.id)
			if tt.c.assigned {
				cl.Properties.Props.AssignedClientID = tt.c.id
			}
			if tt.c.will != "" {
				cl.Properties.Will = mqtt.Will{Flag: 1, TopicName: tt.c.will}
			}
			got := h.refuse(cl, tt.c.user, tt.c.pw)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("refuse = %q, want %q", got, tt.want)
			}
			var pk packets.Packet
			pk.Connect.Username, pk.Connect.Password = []byte(tt.c.user), []byte(tt.c.pw)
			if ok := h.OnConnectAuthenticate(cl, pk); ok != (got == "") {
				t.Errorf("OnConnectAuthenticate = %v, refuse = %q", ok, got)
			}
		})
	}
}

func TestACLCheckNodeNeedsMatchingClientID(t *testing.T) {
	h := newTestHook(t, false)
	// Cannot happen after OnConnectAuthenticate; the check holds anyway.
	cl := newTestClient("node-a", "node-b")
	if h.may(cl, "tether/v1/eu-1/nodes/node-b/status", true) || h.may(cl, "tether/v1/eu-1/nodes/node-a/status", true) ||
		h.OnACLCheck(cl, "tether/v1/eu-1/nodes/node-a/cmd/x", false) {
		t.Error("a node whose client id differs from its username was allowed")
	}
}
