package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestHTTPMetricsAndReadiness: with http.listen set, the scheduler serves
// Prometheus metrics built from its fleet, its embedded broker and its
// task engine, /healthz, and /readyz once it is connected.
func TestHTTPMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	url, stop := startServe(t, map[string]string{"pi-a": "node-pw"}, func(c *config.Config) { c.HTTP.Listen = httpAddr })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, 5*time.Second, "/readyz ready", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
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
	testenv.Eventually(t, 5*time.Second, "pi-a's metrics on /metrics", func() bool {
		_, body = get("/metrics")
		return strings.Contains(body, `tether_node_cpu_percent{node="pi-a"} 42`)
	})
	for _, want := range []string{
		`tether_node_online{node="pi-a"} 1`,
		`tether_node_info{arch="armv7",model="",node="pi-a",tier="edge"} 1`,
		`tether_fleet_nodes{state="online"} 1`,
		`tether_broker_clients{state="connected"}`,
		`tether_broker_messages_total{direction="received"}`,
		"tether_fleet_rows_held 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	stop()
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("the HTTP listener outlived the scheduler")
	}
}
