package collect

import "github.com/tether-edge/tether/pkg/protocol"

// Sample is one reading of a node's resources: exactly the body of a
// protocol.Metrics, without the Header the uplink stamps on it and without
// Heartbeat, which the report filter decides. Its JSON is the body's.
//
// A Sample owns its slice, map and pointers: the Collector never touches
// them again, so a Sample may be kept (as the report filter's last sent one)
// or handed to another goroutine.
type Sample struct {
	CPU      protocol.CPU       `json:"cpu"`
	Load     *protocol.Load     `json:"load,omitempty"`
	Mem      protocol.Mem       `json:"mem"`
	Swap     *protocol.Usage    `json:"swap,omitempty"`
	Disk     *protocol.Disk     `json:"disk,omitempty"`
	Net      *protocol.Net      `json:"net,omitempty"`
	TempC    map[string]float64 `json:"temp_c,omitempty"` // sensor → °C
	UptimeS  uint64             `json:"uptime_s"`
	Throttle *protocol.Throttle `json:"throttle,omitempty"`
}

// Metrics returns the metrics message carrying s under header h. It shares
// s's slice, map and pointers.
func (s Sample) Metrics(h protocol.Header, heartbeat bool) protocol.Metrics {
	return protocol.Metrics{
		Header:    h,
		CPU:       s.CPU,
		Load:      s.Load,
		Mem:       s.Mem,
		Swap:      s.Swap,
		Disk:      s.Disk,
		Net:       s.Net,
		TempC:     s.TempC,
		UptimeS:   s.UptimeS,
		Throttle:  s.Throttle,
		Heartbeat: heartbeat,
	}
}

// optional holds a Sample's pointed-to parts in one allocation.
type optional struct {
	load     protocol.Load
	swap     protocol.Usage
	disk     protocol.Disk
	net      protocol.Net
	throttle protocol.Throttle
}
