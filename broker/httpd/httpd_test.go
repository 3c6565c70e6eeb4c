package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
)

// testFleet is a real fleet with n nodes that were born and reported; every
// third one said goodbye.
func testFleet(n int) *fleet.Fleet {
	f := fleet.New(fleet.Options{})
	for i := range n {
		node := fmt.Sprintf("pi-%05d", i)
		h := protocol.Header{V: protocol.Version, Node: node, Instance: "i1", Seq: 1, TS: time.Now().UTC()}
		f.HandleStatus(protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
			Facts: &protocol.Facts{Arch: "arm64", Cores: 4, Model: "Raspberry Pi 4 Model B", Tier: protocol.TierEdge}}, false)
		h.Seq = 2
		f.HandleMetrics(protocol.Metrics{Header: h, CPU: protocol.CPU{Total: 12.5}, Mem: protocol.Mem{Total: 1000, Used: 400, Available: 600, Percent: 40},
			TempC: map[string]float64{"cpu": 51}, Outbox: &protocol.Outbox{Pending: 3, Dropped: 2}})
		if i%3 == 2 {
			h.Seq = 3
			f.HandleStatus(protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1}, false)
		}
	}
	return f
}

func start(t *testing.T, o Options) string {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestMetricsFromTheFleet(t *testing.T) {
	f := testFleet(6)
	f.SetLink("pi-00001", protocol.LinkEstimate{RTTMS: 80, RTTSamples: 4, Mbps: 7.5, MbpsSamples: 1, UpMbps: 2.5, UpMbpsSamples: 1})
	f.SetLink("pi-00000", protocol.LinkEstimate{RTTMS: 3, RTTSamples: 1})
	f.SetWAN(protocol.WANLink{RTTMS: 84, UpMbps: 20, DownMbps: 9.24, Measured: &protocol.LinkEstimate{RTTMS: 88, RTTSamples: 6, Mbps: 7.9, MbpsSamples: 8, UpMbps: 3.9, UpMbpsSamples: 2}})
	base := start(t, Options{
		Fleet: f,
		Broker: func() BrokerStats {
			return BrokerStats{ClientsConnected: 7, ClientsDisconnected: 2, MessagesReceived: 100, Retained: 12}
		},
		Tasks: func() TaskStats {
			return TaskStats{ByState: map[string]int{"running": 2, "succeeded": 5}, Unplaced: 9, Unplaceable: 3, Preempted: 2}
		},
	})
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`tether_fleet_nodes{state="online"} 4`,
		`tether_fleet_nodes{state="offline"} 2`,
		`tether_node_online{node="pi-00000"} 1`,
		`tether_node_online{node="pi-00002"} 0`,
		`tether_node_cpu_percent{node="pi-00001"} 12.5`,
		`tether_node_memory_percent{node="pi-00001"} 40`,
		`tether_node_temperature_celsius{node="pi-00001"} 51`,
		`tether_node_link_rtt_seconds{node="pi-00001"} 0.08`,
		`tether_node_link_bits_per_second{node="pi-00001"} 7.5e+06`,
		`tether_node_link_rtt_seconds{node="pi-00000"} 0.003`,
		`tether_wan_rtt_seconds{estimate="placement"} 0.084`,
		`tether_wan_rtt_seconds{estimate="measured"} 0.088`,
		`tether_wan_bits_per_second{direction="up",estimate="placement"} 2e+07`,
		`tether_wan_bits_per_second{direction="down",estimate="placement"} 9.24e+06`,
		`tether_wan_bits_per_second{direction="down",estimate="measured"} 7.9e+06`,
		`tether_wan_samples{measure="rtt"} 6`,
		`tether_wan_samples{measure="throughput"} 8`,
		`tether_node_link_up_bits_per_second{node="pi-00001"} 2.5e+06`,
		`tether_wan_bits_per_second{direction="up",estimate="measured"} 3.9e+06`,
		`tether_wan_samples{measure="throughput_up"} 2`,
		`tether_node_outbox_pending{node="pi-00003"} 3`,
		`tether_node_outbox_dropped_total{node="pi-00003"} 2`,
		`tether_node_info{arch="arm64",model="Raspberry Pi 4 Model B",node="pi-00004",tier="edge"} 1`,
		`tether_fleet_outbox_pending 18`,
		`tether_fleet_nodes_not_exported 0`,
		`tether_broker_clients{state="connected"} 7`,
		`tether_broker_clients{state="disconnected"} 2`,
		`tether_broker_messages_total{direction="received"} 100`,
		`tether_broker_retained_messages 12`,
		`tether_tasks{state="running"} 2`,
		`tether_tasks{state="succeeded"} 5`,
		`tether_placements_no_node_total 9`,
		`tether_tasks_unplaceable 3`,
		`tether_preemptions_total 2`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `tether_node_link_up_bits_per_second{node="pi-00000"}`) {
		t.Error("a node with no transfer to it measured has an up throughput series")
	}
	if strings.Contains(body, `tether_node_link_bits_per_second{node="pi-00000"}`) {
		t.Error("a node with no transfer measured has a throughput series")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestPerNodeSeriesAreBounded: past the limit only the aggregates grow.
func TestPerNodeSeriesAreBounded(t *testing.T) {
	base := start(t, Options{Fleet: testFleet(30), PerNodeLimit: 10})
	_, body := get(t, base+"/metrics")
	if n := strings.Count(body, "tether_node_online{"); n != 10 {
		t.Errorf("%d nodes with per-node series, want 10", n)
	}
	if !strings.Contains(body, "tether_fleet_nodes_not_exported 20") {
		t.Error("the nodes left out are not counted")
	}
	if !strings.Contains(body, `tether_fleet_nodes{state="online"} 20`) {
		t.Error("aggregates do not cover every node")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var notReady error = errors.New("not connected to the broker")
	base := start(t, Options{Ready: func() error { return notReady }})
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected to the broker") {
		t.Errorf("/readyz while not ready: %d %q", code, body)
	}
	notReady = nil
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready: %d", code)
	}
}

// TestRowsHeldGauge: tether_fleet_rows_held reads Options.RowsHeld at
// scrape time.
func TestRowsHeldGauge(t *testing.T) {
	var held atomic.Int64 // the scrape reads it on the server's goroutine
	held.Store(7)
	base := start(t, Options{RowsHeld: held.Load})
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "tether_fleet_rows_held 7\n") {
		t.Errorf("/metrics without tether_fleet_rows_held 7:\n%.2000s", body)
	}
	held.Store(0)
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "tether_fleet_rows_held 0\n") {
		t.Error("/metrics: tether_fleet_rows_held did not follow RowsHeld")
	}
}

// TestPprofOnlyWhenAsked: Go's profiles are served under /debug/pprof/
// with Options.Pprof and not without it.
func TestPprofOnlyWhenAsked(t *testing.T) {
	off := start(t, Options{})
	if code, _ := get(t, off+"/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/heap without Pprof: %d, want 404", code)
	}
	on := start(t, Options{Pprof: true})
	if code, body := get(t, on+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with Pprof: %d %.80q", code, body)
	}
	if code, body := get(t, on+"/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("/debug/pprof/heap with Pprof: %d %.80q", code, body)
	}
}

// BenchmarkScrape10k is one scrape of a 10,000-node fleet: the time and
// bytes docs/metrics.md quotes.
func BenchmarkScrape10k(b *testing.B) {
	f := testFleet(10000)
	s, err := New(Options{Addr: "127.0.0.1:0", Fleet: f})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	url := "http://" + s.Addr().String() + "/metrics"
	var n int64
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(n), "bytes/scrape")
}
