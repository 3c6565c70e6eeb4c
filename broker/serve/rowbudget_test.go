package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestRowBudgetFill(t *testing.T) {
	var b rowBudget
	t0 := time.Unix(1000, 0)
	b.fill(t0, 0, 8)
	if b.tokens != rowBudgetBurst {
		t.Fatalf("a new budget holds %v, want the burst %v", b.tokens, rowBudgetBurst)
	}
	b.tokens = 0
	b.fill(t0.Add(time.Second), 1_000_000, 8) // 1 MB of node messages in 1 s
	if b.tokens != 80_000 {
		t.Fatalf("8 %% of 1 MB: %v", b.tokens)
	}
	b.tokens = -5000
	b.fill(t0.Add(3*time.Second), 1_000_000, 8) // nothing received in 2 s: the floor
	if want := -5000.0 + 2*rowBudgetFloor; b.tokens != want {
		t.Fatalf("the floor over 2 s from -5000: %v, want %v", b.tokens, want)
	}
	b.fill(t0.Add(time.Hour), 1_000_000, 8) // an hour idle: capped
	if b.tokens != rowBudgetBurst {
		t.Fatalf("after an idle hour %v, want the cap %v", b.tokens, rowBudgetBurst)
	}
	b.tokens = 0
	b.fill(t0.Add(time.Hour+time.Second), 1_000_000+10_000_000, 8) // 800 kB/s: 10 s of it may be saved
	b.fill(t0.Add(time.Hour+2*time.Second), 1_000_000+20_000_000, 8)
	if b.tokens != 1_600_000 || math.IsNaN(b.tokens) {
		t.Fatalf("two seconds at 800 kB/s: %v", b.tokens)
	}
}

// TestRowsKeepToTheBudget: 40 nodes whose every report moves their row
// past its bands would have their rows published at every refresh
// (200 ms here), ~70 kB/s; with a budget of 1 % of their ~120 kB/s of
// reports the rows stay near the floor (2 KiB/s) once the saved burst is
// spent, every node's row still comes round, oldest-due first, and a
// node going offline is not held.
func TestRowsKeepToTheBudget(t *testing.T) {
	t.Parallel()
	const nodes = 40
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("pi-%02d", i)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	s := newSiteCfg(t, func(users map[string]string) {
		for _, id := range ids {
			users[id] = "node-pw"
		}
	}, func(c *config.Config) {
		c.FleetInterval, c.FleetRowRefresh, c.FleetRowIdleRefresh, c.FleetRowBudget = 100*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond, 1
		c.HTTP.Listen = httpAddr
	})
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@budget", "monitor", "mon-pw")
	var mu sync.Mutex
	rowBytes, nodeBytes := 0, 0
	rows := map[string]int{} // rows received per node
	online := map[string]bool{}
	if err := mon.Subscribe(context.Background(), topics.All(), 0, func(m session.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(m.Topic, topics.Prefix()+"/fleet/nodes/"):
			rowBytes += len(m.Topic) + len(m.Payload)
			if r, err := protocol.DecodeFleetRow(m.Payload); err == nil {
				online[r.Node] = r.Online
				if r.CPU != nil {
					rows[r.Node]++
				}
			}
		case strings.HasPrefix(m.Topic, topics.Prefix()+"/nodes/"):
			nodeBytes += len(m.Topic) + len(m.Payload)
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	sessions := map[string]*session.Session{}
	stop := map[string]chan struct{}{} // closed: the node stops reporting
	stopped := map[string]chan struct{}{}
	lastSeq := map[string]*atomic.Uint64{}
	for _, id := range ids {
		// The goroutine uses its own node's, not the maps the loop writes.
		quit, done, last := make(chan struct{}), make(chan struct{}), new(atomic.Uint64)
		stop[id], stopped[id], lastSeq[id] = quit, done, last
		sess := dial(t, s.url, id, id, "node-pw")
		sessions[id] = sess
		h := protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, TS: time.Now()}
		publishJSON(t, sess, topics.NodeStatus(id), protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
			Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, AgentVersion: "t", Tier: "edge"}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for seq := uint64(1); ctx.Err() == nil; seq++ {
				h.Seq, h.From, h.TS = seq, seq, time.Now()
				// Every report 50 points from the last: past the band.
				b, _ := json.Marshal(protocol.Metrics{Header: h, CPU: protocol.CPU{Total: float64(seq%2) * 50}, Mem: protocol.Mem{Percent: 30}})
				if sess.Publish(ctx, session.Message{Topic: topics.NodeMetrics(id), QoS: 1, Payload: b}) == nil {
					last.Store(seq)
				}
				select {
				case <-ctx.Done():
				case <-quit:
					return
				case <-tick.C:
				}
			}
		}()
	}
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return rowBytes, nodeBytes }
	rowsNow := func() map[string]int { mu.Lock(); defer mu.Unlock(); return maps.Clone(rows) }
	testenv.Eventually(t, 10*time.Second, "every node's first metrics in its row", func() bool { return len(rowsNow()) == nodes })

	// kept: the saved burst (64 KiB) is spent within about a second of
	// this demand; the rate is measured after it, over real time.
	time.Sleep(2 * time.Second)
	r0, n0 := count()
	start := time.Now()
	// kept: the budget is a rate; it is measured over a stretch of real time.
	time.Sleep(4 * time.Second)
	r1, n1 := count()
	el := time.Since(start).Seconds()
	rowRate, nodeRate := float64(r1-r0)/el, float64(n1-n0)/el
	t.Logf("rows %.0f B/s beside %.0f B/s of node messages (%.1f %%); floor %d B/s", rowRate, nodeRate, 100*rowRate/nodeRate, rowBudgetFloor)
	if nodeRate < 50_000 {
		t.Fatalf("only %.0f B/s of node messages: the test's demand is not there", nodeRate)
	}
	if rowRate > 2*rowBudgetFloor {
		t.Fatalf("rows at %.0f B/s with a budget of max(1 %% of %.0f, %d) B/s", rowRate, nodeRate, rowBudgetFloor)
	}
	// The rows the budget holds show on /metrics while it binds.
	testenv.Eventually(t, 5*time.Second, "tether_fleet_rows_held above 0", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^tether_fleet_rows_held (\d+)$`).FindSubmatch(b)
		return m != nil && string(m[1]) != "0"
	})

	// Every node's row comes round, oldest-due first: 40 rows of ~350 B
	// at 2 KiB/s are ~7 s.
	before := rowsNow()
	testenv.Eventually(t, 20*time.Second, "every node's row published again", func() bool {
		now := rowsNow()
		for id, n := range before {
			if now[id] <= n {
				return false
			}
		}
		return true
	})
	t.Logf("every node's row published again %v after the measurement", time.Since(start).Round(100*time.Millisecond))

	// A node going offline is not held by the spent budget.
	gone := ids[7]
	close(stop[gone])
	<-stopped[gone]
	seq := lastSeq[gone].Load() + 1
	h := protocol.Header{V: 1, Node: gone, Instance: "i-" + gone, Store: "s-" + gone, TS: time.Now(), Seq: seq, From: seq}
	sent := time.Now()
	publishJSON(t, sessions[gone], topics.NodeStatus(gone), protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1})
	testenv.Eventually(t, 2*time.Second, "the goodbye in the row at once", func() bool { mu.Lock(); defer mu.Unlock(); return !online[gone] })
	t.Logf("offline row %v after the goodbye", time.Since(sent).Round(time.Millisecond))
}
