package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// BenchmarkFleetViewTraffic measures what the fleet view adds to a monitor
// of tether/v1/<region>/# over the nodes' own reports. Time runs ten times
// fast: fleet_interval 100 ms (so measurement-only rows wait 6 s, as 1 min
// at the default 1 s) and nodes reporting every second (as every 10 s),
// each report the golden metrics example with a new CPU value. It reports
// the monitor's bytes per second of node messages and of fleet messages
// (topic and payload) and their ratio in percent. Run it with
// -benchtime 1x: one run lasts 30 s.
func BenchmarkFleetViewTraffic(b *testing.B) {
	const nodes, run = 200, 30 * time.Second
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("pi-%03d", i)
	}
	s := newSiteWith(b, func(users map[string]string) {
		for _, id := range ids {
			users[id] = "node-pw"
		}
	})
	topics, _ := protocol.NewTopics("default")
	golden, err := os.ReadFile("../../pkg/protocol/testdata/metrics.golden.json")
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := protocol.DecodeMetrics(golden)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		mon := dial(b, s.url, "monitor@traffic", "monitor", "mon-pw")
		var mu sync.Mutex
		var nodeBytes, fleetBytes int
		counting := false
		reported := map[string]bool{} // nodes whose row shows a report applied
		if err := mon.Subscribe(context.Background(), topics.All(), 0, func(m session.Message) {
			mu.Lock()
			defer mu.Unlock()
			if !counting && strings.HasPrefix(m.Topic, topics.Prefix()+"/fleet/") {
				if r, err := protocol.DecodeFleetRow(m.Payload); err == nil && r.Online && r.Seq > 0 {
					reported[r.Node] = true
				}
			}
			if !counting || m.Retained {
				return
			}
			switch {
			case strings.HasPrefix(m.Topic, topics.Prefix()+"/nodes/"):
				nodeBytes += len(m.Topic) + len(m.Payload)
			case strings.HasPrefix(m.Topic, topics.Prefix()+"/fleet/"):
				fleetBytes += len(m.Topic) + len(m.Payload)
			}
		}); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i, id := range ids {
			sess := dial(b, s.url, id, id, "node-pw")
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, TS: time.Now()}
				publishJSONCtx(ctx, sess, topics.NodeStatus(id), true, protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1,
					HeartbeatS: 1, Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, AgentVersion: "t", Tier: "edge"}})
				// Spread the nodes over the second, as a fleet's reports are.
				t := time.NewTimer(time.Duration(i) * time.Second / nodes)
				defer t.Stop()
				for seq := uint64(1); ; seq++ {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
					t.Reset(time.Second)
					m := tmpl
					m.Header = h
					m.Seq, m.From, m.TS = seq, seq, time.Now().UTC().Truncate(time.Millisecond)
					m.CPU.Total = float64(seq % 100)
					publishJSONCtx(ctx, sess, topics.NodeMetrics(id), false, m)
				}
			}()
		}
		// Every node born and reporting: its first rows are out.
		testenv.Eventually(b, 30*time.Second, "every node's first report in the fleet view", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if !reported[id] {
					return false
				}
			}
			return true
		})
		mu.Lock()
		counting = true
		mu.Unlock()
		time.Sleep(run) // kept: the traffic of a real run's length is the measurement
		mu.Lock()
		counting = false
		nb, fb := nodeBytes, fleetBytes
		mu.Unlock()
		cancel()
		wg.Wait()
		b.ReportMetric(float64(nb)/run.Seconds(), "node-B/s")
		b.ReportMetric(float64(fb)/run.Seconds(), "fleet-B/s")
		b.ReportMetric(100*float64(fb)/float64(nb), "fleet-%")
	}
}

func publishJSONCtx(ctx context.Context, sess *session.Session, topic string, retained bool, v any) {
	b, _ := json.Marshal(v)
	_ = sess.Publish(ctx, session.Message{Topic: topic, QoS: 1, Retained: retained, Payload: b})
}
