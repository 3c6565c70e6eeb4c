package mqttd

import (
	"testing"
	"time"
)

func TestEnrolPolicy(t *testing.T) {
	p := testPolicy()
	if r := p.roleOf("enrol-0123456789ab"); r != roleEnrol {
		t.Fatalf("role %v", r)
	}
	for _, c := range []struct {
		node, topic string
		write, want bool
	}{
		{"pi-1", "tether/v1/eu-1/enrol/pi-1/request", true, true},
		{"pi-1", "tether/v1/eu-1/enrol/pi-1/reply", false, true},
		{"pi-1", "tether/v1/eu-1/enrol/pi-1/reply", true, false},
		{"pi-1", "tether/v1/eu-1/enrol/pi-1/request", false, false},
		{"pi-1", "tether/v1/eu-1/enrol/pi-2/request", true, false},
		{"pi-1", "tether/v1/eu-1/enrol/pi-2/reply", false, false},
		{"pi-1", "tether/v1/eu-1/enrol/pi-10/reply", false, false},
		{"pi-1", "tether/v1/eu-1/enrol/+/reply", false, false},
		{"pi-1", "tether/v1/eu-1/enrol/#", false, false},
		{"pi-1", "tether/v1/eu-2/enrol/pi-1/request", true, false},
		{"pi-1", "tether/v1/eu-1/nodes/pi-1/status", true, false},
		{"pi-1", "tether/v1/eu-1/nodes/pi-1/cmd/#", false, false},
		{"pi-1", "tether/v1/eu-1/fleet/summary", false, false},
		{"", "tether/v1/eu-1/enrol//request", true, false},
	} {
		if got := p.allowed(roleEnrol, c.node, c.topic, c.write); got != c.want {
			t.Errorf("enrol for %q write=%v %q = %v, want %v", c.node, c.write, c.topic, got, c.want)
		}
	}
}

// TestEnrolIdentityOnTheBroker: an enrolment identity connects only as
// <user>@<node>, publishes only its node's request, receives only its
// node's reply; removing its user and reloading disconnects it, as it does
// a removed node, and neither can connect again.
func TestEnrolIdentityOnTheBroker(t *testing.T) {
	opts := testOptions(t)
	const user = "enrol-0123456789ab"
	if err := AddUser(opts.CredentialsFile, user, password(user)); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, opts)
	addr := s.Addr().String()
	for _, id := range []string{user, user + "@", user + "@pi/1", "pi-1"} {
		if c, err := dialWith(t, addr, dialOpts{user: user, password: password(user), clientID: id}); err == nil {
			c.pc.Disconnect(10)
			t.Errorf("client id %q accepted", id)
		}
	}
	e, err := dialWith(t, addr, dialOpts{user: user, password: password(user), clientID: user + "@pi-1"})
	if err != nil {
		t.Fatal(err)
	}
	if q := e.subscribe("tether/v1/eu-1/enrol/pi-1/reply", 1); q != 1 {
		t.Fatalf("own reply: SUBACK %#x", q)
	}
	if q := e.subscribe("tether/v1/eu-1/enrol/+/reply", 1); q != 0x80 {
		t.Fatalf("every reply: SUBACK %#x", q)
	}
	sched := mustDial(t, addr, "scheduler")
	sched.subscribe("tether/v1/eu-1/enrol/+/request", 1)
	e.mustPublish("tether/v1/eu-1/enrol/pi-2/request", 1, "forged")
	e.mustPublish("tether/v1/eu-1/nodes/pi-1/status", 1, "status")
	e.mustPublish("tether/v1/eu-1/enrol/pi-1/request", 1, "req")
	if got := sched.await("req"); contains(got, "forged") || contains(got, "status") || len(got) != 1 {
		t.Fatalf("scheduler got %d messages", len(got))
	}
	sched.mustPublish("tether/v1/eu-1/enrol/pi-2/reply", 1, "other")
	sched.mustPublish("tether/v1/eu-1/enrol/pi-1/reply", 1, "mine")
	if got := e.await("mine"); contains(got, "other") {
		t.Fatal("received another node's reply")
	}

	node := mustDial(t, addr, "node-a")
	if err := DeleteUsers(opts.CredentialsFile, []string{user, "node-a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !e.isLost(5*time.Second) || !node.isLost(5*time.Second) {
		t.Fatal("a removed user is still connected after the reload")
	}
	if sched.isLost(0) {
		t.Fatal("the scheduler was disconnected")
	}
	if _, err := dial(t, addr, "node-a"); err == nil {
		t.Fatal("a removed node connected again")
	}
}
