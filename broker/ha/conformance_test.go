package ha

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/tether-edge/tether/broker/natsconf/natstest"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/broker/taskengine/backendtest"
)

// TestConformance runs the task store's backend suite on the JetStream
// backend, one region per directory the suite names, on one real 3-node
// cluster. Opening a directory again campaigns again: the store reloads on
// a new term (the suite's Reopen and StoreRoundTrip go through
// taskengine.OpenStoreOn). The cluster's one user may do anything: natsconf's
// permissions are TestOnlySchedulersTouchTheStream's business, and a
// scheduler's grant names one region.
func TestConformance(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte(password("sched")), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth := fmt.Sprintf("authorization {\n  users = [\n    { user: \"sched\", password: %q }\n  ]\n}\n", h)
	c := region{natstest.Start(t, testRegion, []byte(auth))}
	var mu sync.Mutex
	regions := map[string]string{} // dir → region
	backendtest.Run(t, func(t *testing.T, dir string) taskengine.Backend {
		mu.Lock()
		id, ok := regions[dir]
		if !ok {
			id = fmt.Sprintf("c%d", len(regions)+1)
			regions[dir] = id
		}
		mu.Unlock()
		nc, err := nats.Connect(strings.Join(c.ClientURLs(0), ","), nats.UserInfo("sched", password("sched")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		// Open, campaign and load on a cluster beside a whole make test
		// on two cores: a load timed out at 30 s in one such run.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r, err := Open(ctx, nc, Options{Region: id, Holder: "h", LeaseTTL: testTTL, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		tm, err := r.Campaign(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tm.Resign)
		b, err := tm.Backend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return termBackend{b, tm}
	})
}

// termBackend resigns its term when closed, so the directory's next
// opening takes the region at once.
type termBackend struct {
	taskengine.Backend
	t *Term
}

func (b termBackend) Close() error {
	err := b.Backend.Close()
	b.t.Resign()
	return err
}
