package report_test

import (
	"fmt"
	"time"

	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/agent/report"
	"github.com/tether-edge/tether/pkg/protocol"
)

func ExampleFilter() {
	f := report.NewFilter(report.DefaultThresholds())
	start := time.Date(2024, 6, 3, 12, 0, 0, 0, time.UTC)
	cpu := []float64{3, 5, 4, 40, 41, 38, 39, 40, 40, 40}
	for i, c := range cpu {
		s := collect.Sample{CPU: protocol.CPU{Total: c}}
		now := start.Add(time.Duration(i) * 10 * time.Second)
		d := f.Decide(s, now)
		if d.Send {
			f.Sent(s, now) // once the message is queued
		}
		fmt.Printf("%3ds cpu %2.0f%%: send=%-5v heartbeat=%-5v %v\n", i*10, c, d.Send, d.Heartbeat, d.Reason)
	}
	// Output:
	//   0s cpu  3%: send=true  heartbeat=false first
	//  10s cpu  5%: send=false heartbeat=false none
	//  20s cpu  4%: send=false heartbeat=false none
	//  30s cpu 40%: send=true  heartbeat=false cpu
	//  40s cpu 41%: send=false heartbeat=false none
	//  50s cpu 38%: send=false heartbeat=false none
	//  60s cpu 39%: send=false heartbeat=false none
	//  70s cpu 40%: send=false heartbeat=false none
	//  80s cpu 40%: send=false heartbeat=false none
	//  90s cpu 40%: send=true  heartbeat=true  heartbeat
}
