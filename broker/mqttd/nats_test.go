package mqttd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/natsconf/natstest"
)

// TestACLNATS runs the embedded broker's ACL table against a real 3-node
// NATS cluster configured by deploy/nats, with users and permissions made
// by natsconf from a bcrypt credentials file written by SetUsersHash: the
// shipped config and the generated ACL work, and NATS agrees with the
// embedded broker where the table says it should.
func TestACLNATS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	var users []User
	for _, group := range [][]string{testNodes, testSchedulers, testMonitors, testOperators} {
		for _, u := range group {
			users = append(users, User{Name: u, Password: password(u)})
		}
	}
	if _, err := SetUsersHash(path, users, HashBcrypt); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []natsconf.User
	for _, n := range creds.Users() {
		h, _ := creds.Entry(n)
		entries = append(entries, natsconf.User{Name: n, Hash: h})
	}
	auth, err := natsconf.Authorization(entries, natsconf.Options{Region: testRegion, Schedulers: testSchedulers, Monitors: testMonitors, Operators: testOperators})
	if err != nil {
		t.Fatal(err)
	}
	c := natstest.Start(t, testRegion, auth)
	// Each case costs a JetStream consumer replicated on three nodes: the
	// short form checks only what a node may publish; TETHER_CLUSTER=1
	// (make cluster) runs every case.
	runACLTable(t, brokerUnderTest{name: "nats", addr: c.MQTT[1], checksSubscribe: true, nodePublishOnly: os.Getenv("TETHER_CLUSTER") == ""})
}
