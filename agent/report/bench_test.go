package report

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/pkg/protocol"
)

// hour is a deterministic hour of 1 s samples of a Raspberry Pi: idle with
// the jitter of a real one, a two-minute job at minute 30 (CPU 85–95%, the
// SoC warming to 70 °C, 2 MB/s received), and an undervoltage at minute 45.
func hour() []collect.Sample {
	rng := rand.New(rand.NewPCG(1, 2))
	jitter := func(x, d float64) float64 { return x + (rng.Float64()*2-1)*d }
	out := make([]collect.Sample, 3600)
	tc := 48.0
	for i := range out {
		busy := i >= 1800 && i < 1920
		s := idle()
		s.CPU.Total = max(0, jitter(3, 2.5))
		s.Load.M1 = max(0, jitter(0.15, 0.1))
		s.Mem.Percent = jitter(25, 0.5)
		s.Disk.Percent = 36 + float64(i)/3600*0.3 // logs growing
		s.Net.RxBps, s.Net.TxBps = max(0, jitter(2000, 1800)), max(0, jitter(1200, 1000))
		target := 48.0
		if busy {
			s.CPU.Total = jitter(90, 5)
			s.Load.M1 = 3.5
			s.Net.RxBps = jitter(2e6, 2e5)
			target = 70
		}
		tc += (target - tc) / 30 // the SoC's thermal inertia
		s.TempC["cpu_thermal"] = jitter(tc, 0.5)
		if i >= 2700 && i < 2705 {
			*s.Throttle = protocol.Throttle{Raw: 0x50005, Undervoltage: true, Throttled: true,
				UndervoltageOccurred: true, ThrottledOccurred: true}
		} else if i >= 2705 {
			*s.Throttle = protocol.Throttle{Raw: 0x50000, UndervoltageOccurred: true, ThrottledOccurred: true}
		}
		out[i] = s
	}
	return out
}

// BenchmarkHour replays hour() through the filter and reports how many
// messages it lets through: the saving of change-only reporting over
// sending every sample.
func BenchmarkHour(b *testing.B) {
	trace := hour()
	for _, bc := range []struct {
		name string
		t    Thresholds
	}{{"defaults", DefaultThresholds()}, {"send-everything", SendEverything()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sent, beats int
			for b.Loop() {
				f := NewFilter(bc.t)
				sent, beats = 0, 0
				for i, s := range trace {
					now := t0.Add(time.Duration(i) * time.Second)
					if d := f.Decide(s, now); d.Send {
						f.Sent(s, now)
						sent++
						if d.Heartbeat {
							beats++
						}
					}
				}
			}
			b.ReportMetric(float64(sent), "msgs/h")
			b.ReportMetric(float64(beats), "heartbeats/h")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(trace)), "ns/sample")
		})
	}
}

// BenchmarkDecide is the filter's cost per sample on an idle node: one
// Decide that sends nothing.
func BenchmarkDecide(b *testing.B) {
	s := with(temp("nvme", 40), temp("coretemp_package_id_0", 55))
	f := NewFilter(DefaultThresholds())
	f.Sent(s, t0)
	now := t0.Add(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if d := f.Decide(s, now); d.Send {
			b.Fatal("an unchanged sample was sent")
		}
	}
}
