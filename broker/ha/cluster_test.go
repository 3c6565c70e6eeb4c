package ha

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/natsconf/natstest"
	"github.com/tether-edge/tether/broker/taskengine"
)

const (
	testRegion = "eu-1"
	testTTL    = 2 * time.Second
)

// region is a real 3-node NATS cluster made from deploy/nats with
// natsconf's users: scheduler "sched", monitor "mon", node "pi-1".
type region struct {
	*natstest.Cluster
}

func startRegion(t *testing.T) region {
	t.Helper()
	var users []natsconf.User
	for _, u := range []string{"sched", "mon", "pi-1"} {
		h, err := bcrypt.GenerateFromPassword([]byte(password(u)), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, natsconf.User{Name: u, Hash: string(h)})
	}
	auth, err := natsconf.Authorization(users, natsconf.Options{Region: testRegion, Schedulers: []string{"sched"}, Monitors: []string{"mon"}})
	if err != nil {
		t.Fatal(err)
	}
	return region{natstest.Start(t, testRegion, auth)}
}

func password(user string) string { return user + "-secret" }

// connect connects user to every node, node first first, reconnecting
// for ever.
func (r region) connect(t *testing.T, user string, first int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.UserInfo(user, password(user)), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond), nats.DontRandomize(), nats.Name(user)}, opts...)
	nc, err := nats.Connect(strings.Join(r.ClientURLs(first), ","), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// open opens the region as scheduler holder over its own connection.
func (r region) open(t *testing.T, holder string, first int) (*Region, *nats.Conn) {
	t.Helper()
	nc := r.connect(t, "sched", first)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := Open(ctx, nc, Options{Region: testRegion, Holder: holder, LeaseTTL: testTTL, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return reg, nc
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// campaign runs Campaign in the background; the result arrives on the
// channel, with when it returned.
type campaignResult struct {
	term *Term
	err  error
	at   time.Time
}

func campaign(t *testing.T, r *Region) <-chan campaignResult {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan campaignResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tm, err := r.Campaign(ctx)
		ch <- campaignResult{tm, err, time.Now()}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func mustCampaign(t *testing.T, r *Region) *Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tm, err := r.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Resign)
	return tm
}

func mustBackend(t *testing.T, tm *Term) taskengine.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := tm.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
