package serve

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/natsconf/natstest"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestOneHolderNameTwoProcesses: two schedulers configured with the same
// ha.holder (two containers of one host name) do not both act. The first
// holds the lease; the second stands by until the first resigns, and its
// term then has a higher epoch. Without a per-process part in the lease's
// holder the second would find "its own" name in the lease and take it
// back while the first still acts.
func TestOneHolderNameTwoProcesses(t *testing.T) {
	t.Parallel()
	const region, user = haRegion, haUser
	cluster := startHACluster(t)
	cfg := config.Default()
	cfg.Region, cfg.Username = region, user
	cfg.HA = config.HA{NATSURL: cluster.ClientURLs(0), Holder: "sched-a", LeaseTTL: 2 * time.Second}
	log := testenv.Logger(t, slog.LevelInfo)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := campaign(ctx, cfg, haPassword, log)
	if err != nil || first == nil {
		t.Fatalf("first scheduler: %v", err)
	}

	type result struct {
		l   *leadership
		err error
	}
	second := make(chan result, 1)
	go func() {
		l, err := campaign(ctx, cfg, haPassword, log)
		second <- result{l, err}
	}()
	// Three lease times: a second process that mistook the lease for its
	// own would have taken it at once.
	select {
	case r := <-second:
		if r.l != nil {
			r.l.close()
		}
		t.Fatalf("a second scheduler of the same holder name acted while the first held the region (epoch %d, err %v)", r.l.epoch(), r.err)
	case <-time.After(3 * cfg.HA.LeaseTTL):
	}
	if !first.term.Valid() {
		t.Fatal("the first scheduler lost its term")
	}

	firstEpoch := first.epoch()
	first.close()
	select {
	case r := <-second:
		if r.err != nil || r.l == nil {
			t.Fatalf("second scheduler after the first resigned: %v", r.err)
		}
		defer r.l.close()
		if r.l.epoch() <= firstEpoch {
			t.Errorf("second term's epoch %d, not above the first's %d", r.l.epoch(), firstEpoch)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second scheduler did not take the region after the first resigned")
	}
}

// The region, scheduler user and password of startHACluster's cluster.
const haRegion, haUser, haPassword = "eu-1", "sched", "sched-secret"

// startHACluster starts a 3-node NATS cluster for region haRegion whose
// one user, haUser, is the region's scheduler.
func startHACluster(t *testing.T) *natstest.Cluster {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(haPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := natsconf.Authorization([]natsconf.User{{Name: haUser, Hash: string(h)}},
		natsconf.Options{Region: haRegion, Schedulers: []string{haUser}})
	if err != nil {
		t.Fatal(err)
	}
	return natstest.Start(t, haRegion, auth)
}
