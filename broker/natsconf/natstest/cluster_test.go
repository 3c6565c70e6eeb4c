package natstest

import (
	"net"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-edge/tether/broker/natsconf"
)

// TestStartOnATakenPort: a node whose port another process took between
// its choice and the server's bind exits; the cluster is started again on
// other ports and comes up.
func TestStartOnATakenPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	calls := 0
	pickAddr = func(t testing.TB) string {
		calls++
		if calls == 6 { // node 2's client listener, first attempt
			return held.Addr().String()
		}
		return freeAddr(t)
	}
	defer func() { pickAddr = freeAddr }()

	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := natsconf.Authorization([]natsconf.User{{Name: "sched", Hash: string(h)}},
		natsconf.Options{Region: "eu-1", Schedulers: []string{"sched"}})
	if err != nil {
		t.Fatal(err)
	}
	c := Start(t, "eu-1", auth)
	if calls <= 4*Nodes {
		t.Fatalf("the cluster came up without starting again (%d addresses chosen)", calls)
	}
	for i := range Nodes {
		if c.Client[i] == held.Addr().String() {
			t.Fatalf("node %d listens on the taken address", i)
		}
	}
}
