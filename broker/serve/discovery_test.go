package serve

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestHAConfigsFollowConventions(t *testing.T) {
	t.Parallel()
	topics, _ := protocol.NewTopics("eu-1")
	msgs := haConfigs("homeassistant", topics, protocol.FleetNode{Node: "pi-a", Model: "Raspberry Pi 4 Model B", Version: "1.4.2"})
	if len(msgs) != len(haEntities) {
		t.Fatalf("%d configs, want %d", len(msgs), len(haEntities))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if !m.Retained || m.QoS != 1 {
			t.Errorf("%s: retained %v QoS %d, want retained QoS 1", m.Topic, m.Retained, m.QoS)
		}
		// <prefix>/<component>/<node_id>/<object_id>/config
		parts := strings.Split(m.Topic, "/")
		if len(parts) != 5 || parts[0] != "homeassistant" || parts[2] != "tether_eu-1_pi-a" || parts[4] != "config" {
			t.Errorf("topic %s does not follow <prefix>/<component>/<node_id>/<object_id>/config", m.Topic)
		}
		var c haConfig
		if err := json.Unmarshal(m.Payload, &c); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if c.StateTopic != "tether/v1/eu-1/fleet/nodes/pi-a" || c.UniqueID == "" || seen[c.UniqueID] {
			t.Errorf("%s: state %q unique_id %q", m.Topic, c.StateTopic, c.UniqueID)
		}
		seen[c.UniqueID] = true
		if c.Device.Name != "pi-a" || c.Device.SWVersion != "1.4.2" || c.Device.Model != "Raspberry Pi 4 Model B" || len(c.Device.Identifiers) != 1 {
			t.Errorf("%s: device %+v", m.Topic, c.Device)
		}
	}
	for _, k := range []string{"online", "cpu", "memory", "temperature", "throttled"} {
		if !seen["tether_eu-1_pi-a_"+k] {
			t.Errorf("no %s entity", k)
		}
	}
}

// TestHomeAssistantDiscovery: with discovery on, a monitor connected with
// Home Assistant's kind of client id finds every entity of a node that was
// born, and each entity's state topic carries the value it reads.
func TestHomeAssistantDiscovery(t *testing.T) {
	t.Parallel()
	url, _ := startServe(t, map[string]string{"monitor": "mon-pw", "pi-a": "node-pw"},
		func(c *config.Config) { c.HomeAssistant.Discovery = true })

	topics, _ := protocol.NewTopics("default")
	node := dial(t, url, "pi-a", "pi-a", "node-pw")
	birth := `{"v":1,"node":"pi-a","instance":"i1","seq":0,"conn":1,"ts":"2026-11-27T09:30:00Z","state":"online","heartbeat_s":60,` +
		`"facts":{"hostname":"h","os":"linux","arch":"arm64","cores":4,"mem_total":1,"agent_version":"1.4.2","model":"Raspberry Pi 4 Model B","tier":"edge"}}`
	metrics := `{"v":1,"node":"pi-a","instance":"i1","seq":1,"ts":"2026-11-27T09:30:01Z","cpu":{"total":42},"mem":{"total":10,"available":5,"used":5,"percent":50},"uptime_s":1}`
	for _, m := range []session.Message{
		{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: []byte(birth)},
		{Topic: topics.NodeMetrics("pi-a"), QoS: 1, Payload: []byte(metrics)},
	} {
		if err := node.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}

	ha := dial(t, url, "homeassistant_5f3a9c", "monitor", "mon-pw")
	var mu sync.Mutex
	configs := map[string]haConfig{}
	rows := map[string][]byte{}
	if err := ha.Subscribe(context.Background(), "homeassistant/#", 1, func(m session.Message) {
		var c haConfig
		if json.Unmarshal(m.Payload, &c) == nil {
			mu.Lock()
			configs[m.Topic] = c
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := ha.Subscribe(context.Background(), topics.AllFleetRows(), 1, func(m session.Message) {
		mu.Lock()
		rows[m.Topic] = m.Payload
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "every discovery config of pi-a", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(configs) == len(haEntities)
	})
	testenv.Eventually(t, 5*time.Second, "pi-a's row with its CPU", func() bool {
		mu.Lock()
		defer mu.Unlock()
		var r protocol.FleetRow
		return json.Unmarshal(rows[topics.FleetRow("pi-a")], &r) == nil && r.CPU != nil && *r.CPU == 42
	})
	mu.Lock()
	defer mu.Unlock()
	for topic, c := range configs {
		if _, ok := rows[c.StateTopic]; !ok {
			t.Errorf("%s: state topic %s carries nothing", topic, c.StateTopic)
		}
		if c.Device.SWVersion != "1.4.2" || c.Device.Model != "Raspberry Pi 4 Model B" {
			t.Errorf("%s: device %+v", topic, c.Device)
		}
	}
}
