package e2e

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

// regionState is what the region's stream holds: the lease's holder
// (empty when none holds it), the epoch, and the signing key (nil: none).
type regionState struct {
	holder string
	epoch  uint64
	key    ed25519.PrivateKey
}

// stream reads the region's stream as a scheduler may (its user, over
// core NATS), without campaigning.
func (r *haRegion) stream(t *testing.T) regionState {
	t.Helper()
	nc, err := nats.Connect(strings.Join(r.c.ClientURLs(0), ","), nats.UserInfo("tether-scheduler", r.s.password("tether-scheduler")))
	if err != nil {
		t.Fatalf("connect to the region's NATS: %v", err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := ha.Open(ctx, nc, ha.Options{Region: "default", Holder: "e2e-reader"})
	if err != nil {
		t.Fatalf("the region's stream: %v", err)
	}
	var st regionState
	if st.holder, st.epoch, err = reg.Leader(ctx); err != nil {
		t.Fatalf("the region's lease and epoch: %v", err)
	}
	if st.key, err = reg.SigningKey(ctx); err != nil {
		t.Fatalf("the region's signing key: %v", err)
	}
	return st
}

// regionKeyID is the id (task.KeyID) of the key the region's first
// scheduler installs, r.key.
func (r *haRegion) regionKeyID(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	k, err := taskengine.LoadSigningKey(r.key)
	if err != nil {
		t.Fatal(err)
	}
	return k, task.KeyID(k.Public().(ed25519.PublicKey))
}
