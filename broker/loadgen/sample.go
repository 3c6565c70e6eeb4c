package loadgen

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

func hex16(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return hex.EncodeToString(b[:])
}

// sample is a simulated Raspberry Pi 4's readings, moved by a random walk.
type sample struct {
	cpu   [4]float64
	memPc float64
	temp  float64
	load  float64
	up    uint64
}

const memTotal = 4 << 30

func newSample(r *rand.Rand) sample {
	return sample{cpu: [4]float64{5, 5, 5, 5}, memPc: 20 + 30*r.Float64(), temp: 45 + 10*r.Float64(), load: 0.3, up: 86400 + r.Uint64N(864000)}
}

func (s *sample) step(r *rand.Rand, big bool) {
	amp := 1.0
	if big {
		amp = 15
	}
	for i := range s.cpu {
		s.cpu[i] = clamp(s.cpu[i]+amp*(r.Float64()-0.5), 0, 100)
	}
	s.memPc = clamp(s.memPc+amp/5*(r.Float64()-0.5), 1, 99)
	s.temp = clamp(s.temp+amp/3*(r.Float64()-0.5), 30, 85)
	s.load = clamp(s.load+amp/30*(r.Float64()-0.5), 0, 8)
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (s *sample) metrics(h protocol.Header, now time.Time) protocol.Metrics {
	total := 0.0
	per := make([]float64, len(s.cpu))
	for i, c := range s.cpu {
		per[i] = round2(c)
		total += c
	}
	used := uint64(s.memPc / 100 * memTotal)
	return protocol.Metrics{Header: h,
		CPU:      protocol.CPU{Total: round2(total / 4), PerCore: per},
		Load:     &protocol.Load{M1: round2(s.load), M5: round2(s.load), M15: round2(s.load)},
		Mem:      protocol.Mem{Total: memTotal, Available: memTotal - used, Used: used, Percent: round2(s.memPc)},
		Disk:     &protocol.Disk{Path: "/var/lib/tether", Usage: protocol.Usage{Total: 31e9, Used: 5.2e9, Percent: 16.77}},
		Net:      &protocol.Net{RxBps: 1200, TxBps: 300},
		TempC:    map[string]float64{"cpu_thermal": round2(s.temp)},
		UptimeS:  s.up + uint64(now.Unix()%1e6),
		Throttle: &protocol.Throttle{},
	}
}

// facts are a simulated Pi 4's: every node the same but its hostname.
func (g *Generator) facts(n *node) protocol.Facts {
	return protocol.Facts{Hostname: n.id, OS: "linux", Arch: "arm64", Model: "Raspberry Pi 4 Model B Rev 1.4",
		Platform: "debian 12.8", Kernel: "6.6.51+rpt-rpi-v8", Cores: 4, MemTotal: memTotal, AgentVersion: "loadgen",
		Tier: protocol.TierEdge, Labels: map[string]string{"site": "load"}, TaskSlots: g.opts.TaskSlots}
}
