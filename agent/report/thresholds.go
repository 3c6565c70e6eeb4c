package report

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Change is the threshold of one metric: a new value has changed from the
// last sent one when the difference d = |new − last| is non-zero and
//
//	d ≥ Abs  and  d ≥ Rel × |last|
//
// Abs alone is a plain band ("±10 points"); Rel alone is relative ("±50%");
// both make a relative threshold with an absolute floor, so that small
// values jittering around zero do not count as 100% changes. The zero
// Change counts any difference.
type Change struct {
	Abs float64 // in the metric's unit
	Rel float64 // a fraction: 0.25 is 25%
}

// Changed reports whether cur differs from last by the threshold.
func (c Change) Changed(last, cur float64) bool {
	d := math.Abs(cur - last)
	return d > 0 && d >= c.Abs && d >= c.Rel*math.Abs(last)
}

func (c Change) validate(name string) error {
	for _, v := range []float64{c.Abs, c.Rel} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("threshold %s: %v is not a finite, non-negative number", name, v)
		}
	}
	return nil
}

// Thresholds say how much each metric must move, from the last sample sent,
// for a new sample to be sent.
//
// The zero Thresholds send every sample: every difference counts, and a
// Heartbeat of 0 allows no silence. That is the baseline the filter's savings
// are measured against.
type Thresholds struct {
	CPU  Change // CPU.Total, percentage points
	Mem  Change // Mem.Percent, points
	Swap Change // Swap.Percent, points
	Disk Change // Disk.Percent, points
	Load Change // Load.M1 (M5 and M15 follow it)
	Temp Change // every sensor, °C
	Net  Change // Net.RxBps and Net.TxBps each, bytes/s

	// Heartbeat is the longest the node stays silent: a sample is sent
	// when this much time passed since the last one, changed or not. The
	// scheduler takes a node that is silent for longer, plus a grace of at
	// least one sampling interval, to be lost.
	Heartbeat time.Duration
}

// DefaultThresholds are the thresholds an agent uses unless configured.
// Each is about the smallest move that would change a placement decision,
// and well above the jitter of an idle Raspberry Pi:
//
//   - CPU ±10 points: an idle Pi wanders by 1–5;
//   - memory ±5 points (200 MiB on a 4 GiB Pi), swap ±5 points;
//   - disk ±1 point (300 MiB of a 32 GiB card): logs and checkpoints grow
//     slowly, and a full disk is the agent's own failure;
//   - load1 ±0.5 and ±25%: 0.5 is half a core busy; above 2 the 25% rules;
//   - temperature ±2 °C: the SoC sensor's noise is about ±0.5 °C, and the
//     firmware throttles from 80 °C (soft limit 60 °C on a Pi 3B+);
//   - network ±50% with a floor of 10 KiB/s: an idle node's ARP, mDNS and
//     NTP traffic swings by more than 50% of almost nothing;
//   - heartbeat 60 s: the scheduler knows a node is alive within a minute
//     (plus its grace) at 1/60 of the messages of sending every second.
//
// Throttling flags have no threshold: any change is sent.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPU:       Change{Abs: 10},
		Mem:       Change{Abs: 5},
		Swap:      Change{Abs: 5},
		Disk:      Change{Abs: 1},
		Load:      Change{Abs: 0.5, Rel: 0.25},
		Temp:      Change{Abs: 2},
		Net:       Change{Abs: 10 << 10, Rel: 0.5},
		Heartbeat: 60 * time.Second,
	}
}

// SendEverything is the Thresholds that send every sample, the zero value
// under a name that says so.
func SendEverything() Thresholds { return Thresholds{} }

// Validate reports a threshold a configuration got wrong.
func (t Thresholds) Validate() error {
	var errs []error
	for _, c := range []struct {
		name string
		c    Change
	}{{"cpu", t.CPU}, {"mem", t.Mem}, {"swap", t.Swap}, {"disk", t.Disk}, {"load", t.Load}, {"temp", t.Temp}, {"net", t.Net}} {
		errs = append(errs, c.c.validate(c.name))
	}
	if t.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("heartbeat %v is negative (0 sends every sample)", t.Heartbeat))
	}
	return errors.Join(errs...)
}
