package serve

import (
	"context"
	"encoding/json"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Home Assistant MQTT discovery (homeassistant.discovery): for every node
// the scheduler retains one config per entity under
// <prefix>/<component>/tether_<region>_<node>/<entity>/config. Every entity
// reads the node's retained fleet row (fleet/nodes/<node>): no state topic
// of its own, so discovery adds only these configs to the broker. Configs
// go out when a node is first seen with its facts, again when its model or
// agent version changes, and all again after the scheduler reconnects.

// haEntity is one Home Assistant entity of a node.
type haEntity struct {
	component, key, name string
	value                string // Jinja template on the row's JSON
	deviceClass, unit    string
	stateClass           string
	availability         bool // unavailable while the node is offline
}

var haEntities = []haEntity{
	{component: "binary_sensor", key: "online", name: "Online", deviceClass: "connectivity",
		value: "{{ 'ON' if value_json.online else 'OFF' }}"},
	{component: "sensor", key: "cpu", name: "CPU", unit: "%", stateClass: "measurement", availability: true,
		value: "{{ value_json.cpu | default(none) }}"},
	{component: "sensor", key: "memory", name: "Memory", unit: "%", stateClass: "measurement", availability: true,
		value: "{{ value_json.mem | default(none) }}"},
	{component: "sensor", key: "temperature", name: "Temperature", deviceClass: "temperature", unit: "°C",
		stateClass: "measurement", availability: true, value: "{{ value_json.temp_c | default(none) }}"},
	{component: "binary_sensor", key: "throttled", name: "Throttled", deviceClass: "problem", availability: true,
		value: "{{ 'ON' if value_json.throttled | default(false) else 'OFF' }}"},
}

// haDevice is Home Assistant's device block: the node.
type haDevice struct {
	Identifiers   []string `json:"identifiers"`
	Name          string   `json:"name"`
	Manufacturer  string   `json:"manufacturer"`
	Model         string   `json:"model,omitempty"`
	SWVersion     string   `json:"sw_version,omitempty"`
	SuggestedArea string   `json:"suggested_area,omitempty"`
}

// haConfig is one discovery config payload.
type haConfig struct {
	Name                 string   `json:"name"`
	UniqueID             string   `json:"unique_id"`
	ObjectID             string   `json:"object_id"`
	StateTopic           string   `json:"state_topic"`
	ValueTemplate        string   `json:"value_template"`
	DeviceClass          string   `json:"device_class,omitempty"`
	UnitOfMeasurement    string   `json:"unit_of_measurement,omitempty"`
	StateClass           string   `json:"state_class,omitempty"`
	AvailabilityTopic    string   `json:"availability_topic,omitempty"`
	AvailabilityTemplate string   `json:"availability_template,omitempty"`
	Device               haDevice `json:"device"`
}

// haConfigs returns the discovery topics and payloads of one node's row.
func haConfigs(prefix string, topics protocol.Topics, row protocol.FleetNode) []session.Message {
	id := "tether_" + topics.Region() + "_" + row.Node
	state := topics.FleetRow(row.Node)
	dev := haDevice{Identifiers: []string{id}, Name: row.Node, Manufacturer: "Tether", Model: row.Model, SWVersion: row.Version}
	out := make([]session.Message, 0, len(haEntities))
	for _, e := range haEntities {
		c := haConfig{
			Name: e.name, UniqueID: id + "_" + e.key, ObjectID: id + "_" + e.key,
			StateTopic: state, ValueTemplate: e.value,
			DeviceClass: e.deviceClass, UnitOfMeasurement: e.unit, StateClass: e.stateClass, Device: dev,
		}
		if e.availability {
			c.AvailabilityTopic = state
			c.AvailabilityTemplate = "{{ 'online' if value_json.online else 'offline' }}"
		}
		b, _ := json.Marshal(c) // plain strings and slices: cannot fail
		out = append(out, session.Message{Topic: prefix + "/" + e.component + "/" + id + "/" + e.key + "/config",
			QoS: 1, Retained: true, Payload: b})
	}
	return out
}

// publishDiscovery publishes the configs of nodes that need them; it runs
// in publishFleet's pass. announced maps a node to the device facts its
// configs were last published with.
func (s *scheduler) publishDiscovery(ctx context.Context, announced map[string]string, reconnected bool) {
	if !s.cfg.HomeAssistant.Discovery {
		return
	}
	if reconnected {
		clear(announced)
		s.fleet.MarkAll(fleet.ForDiscovery)
	}
	s.fleet.Drain(fleet.ForDiscovery, func(n fleet.Node) {
		if n.Facts == nil {
			return // no model or version yet: wait for the birth
		}
		row := fleet.Row(n)
		sig := row.Model + "\x00" + row.Version
		if announced[n.ID] == sig {
			return
		}
		announced[n.ID] = sig
		for _, m := range haConfigs(s.cfg.HomeAssistant.Prefix, s.topics, row) {
			s.publish(ctx, m)
		}
	})
}
