package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// TestHTTPMetricsAndReadiness: with http.listen set, the scheduler serves
// Prometheus metrics built from its fleet, its embedded broker and its
// task engine, /healthz, and /readyz once it is connected.
func TestHTTPMetricsAndReadiness(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	for user, pw := range map[string]string{"tether-scheduler": "sched-pw", "pi-a": "node-pw"} {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	cfg := config.Default()
	cfg.Embedded.Listen = "127.0.0.1:0"
	cfg.Embedded.CredentialsFile = creds
	cfg.Password = "sched-pw"
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks.Dir = filepath.Join(dir, "tasks")
	cfg.HTTP.Listen = httpAddr

	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler), Version: "test", OnReady: func(u string) { ready <- u }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, "/readyz ready", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}

	topics, _ := protocol.NewTopics("default")
	node := dial(t, url, "pi-a", "pi-a", "node-pw")
	birth := `{"v":1,"node":"pi-a","instance":"i1","seq":0,"conn":1,"ts":"2026-11-27T09:30:00Z","state":"online","heartbeat_s":60,` +
		`"facts":{"hostname":"h","os":"linux","arch":"armv7","cores":4,"mem_total":1,"agent_version":"t","tier":"edge"}}`
	metrics := `{"v":1,"node":"pi-a","instance":"i1","seq":1,"ts":"2026-11-27T09:30:01Z","cpu":{"total":42},"mem":{"total":10,"available":5,"used":5,"percent":50},"uptime_s":1}`
	for _, m := range []session.Message{
		{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: []byte(birth)},
		{Topic: topics.NodeMetrics("pi-a"), QoS: 1, Payload: []byte(metrics)},
	} {
		if err := node.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var body string
	eventually(t, "pi-a's metrics on /metrics", func() bool {
		_, body = get("/metrics")
		return strings.Contains(body, `tether_node_cpu_percent{node="pi-a"} 42`)
	})
	for _, want := range []string{
		`tether_node_online{node="pi-a"} 1`,
		`tether_node_info{arch="armv7",model="",node="pi-a",tier="edge"} 1`,
		`tether_fleet_nodes{state="online"} 1`,
		`tether_broker_clients{state="connected"}`,
		`tether_broker_messages_total{direction="received"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("the HTTP listener outlived the scheduler")
	}
}
