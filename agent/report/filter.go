package report

import (
	"maps"
	"time"

	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Filter decides which samples are sent, comparing each with the last one
// sent. It is not safe for concurrent use: the sampling loop owns it.
//
// Lifecycle of one sample:
//
//	Decide ──Send false──▶ dropped
//	   │
//	   └─Send true──▶ the caller sends ──ok──▶ Sent (the new reference)
//	                         │
//	                         └─failed──▶ nothing: the next sample is
//	                                     compared with the old reference
type Filter struct {
	t      Thresholds
	sent   bool      // a reference exists
	lastAt time.Time // when the reference was sent
	last   ref
}

// ref is what the filter keeps of the last sample sent: the compared
// values, copied, so it holds no memory of the caller's.
type ref struct {
	cpu, mem, load, swap, disk, rx, tx float64
	throttle                           protocol.Throttle  // Raw cleared: only the flags count
	temps                              map[string]float64 // reused from one Sent to the next

	// Which optional parts the sample had.
	hasLoad, hasSwap, hasDisk, hasNet, hasThrottle bool
}

// NewFilter returns a Filter with thresholds t; the first sample it sees is
// always sent.
func NewFilter(t Thresholds) *Filter {
	return &Filter{t: t}
}

// Decide says whether s, sampled at now, must be sent. It changes nothing:
// call Sent once s has been handed over for sending.
//
// A now before the last send (a clock stepped back) counts as a heartbeat
// due, so a clock step cannot silence a node.
func (f *Filter) Decide(s collect.Sample, now time.Time) Decision {
	if !f.sent {
		return Decision{Send: true, Reason: ReasonFirst}
	}
	if r := f.changes(&s); r != 0 {
		return Decision{Send: true, Reason: r}
	}
	if silence := now.Sub(f.lastAt); silence >= f.t.Heartbeat || silence < 0 {
		return Decision{Send: true, Heartbeat: true, Reason: ReasonHeartbeat}
	}
	return Decision{}
}

// Sent records s, sent at now, as the sample later ones are compared with.
func (f *Filter) Sent(s collect.Sample, now time.Time) {
	f.sent, f.lastAt = true, now
	r := &f.last
	r.cpu, r.mem = s.CPU.Total, s.Mem.Percent
	r.hasLoad, r.hasSwap, r.hasDisk, r.hasNet, r.hasThrottle =
		s.Load != nil, s.Swap != nil, s.Disk != nil, s.Net != nil, s.Throttle != nil
	r.load, r.swap, r.disk, r.rx, r.tx, r.throttle = 0, 0, 0, 0, 0, protocol.Throttle{}
	if s.Load != nil {
		r.load = s.Load.M1
	}
	if s.Swap != nil {
		r.swap = s.Swap.Percent
	}
	if s.Disk != nil {
		r.disk = s.Disk.Percent
	}
	if s.Net != nil {
		r.rx, r.tx = s.Net.RxBps, s.Net.TxBps
	}
	if s.Throttle != nil {
		r.throttle = flags(*s.Throttle)
	}
	if r.temps == nil {
		r.temps = make(map[string]float64, len(s.TempC))
	}
	clear(r.temps)
	maps.Copy(r.temps, s.TempC)
}

// Reset forgets the last sample sent, so the next one is sent as a first:
// after a reconnection, when the scheduler may have lost the node's state.
func (f *Filter) Reset() {
	f.sent = false
}

// changes returns the metrics of s that moved past their thresholds.
func (f *Filter) changes(s *collect.Sample) Reason {
	t, l := &f.t, &f.last
	var r Reason
	if (s.Throttle != nil) != l.hasThrottle || (s.Throttle != nil && flags(*s.Throttle) != l.throttle) {
		r |= ReasonThrottle
	}
	if t.CPU.Changed(l.cpu, s.CPU.Total) {
		r |= ReasonCPU
	}
	if t.Mem.Changed(l.mem, s.Mem.Percent) {
		r |= ReasonMem
	}
	if (s.Load != nil) != l.hasLoad || (s.Load != nil && t.Load.Changed(l.load, s.Load.M1)) {
		r |= ReasonLoad
	}
	if (s.Swap != nil) != l.hasSwap || (s.Swap != nil && t.Swap.Changed(l.swap, s.Swap.Percent)) {
		r |= ReasonSwap
	}
	if (s.Disk != nil) != l.hasDisk || (s.Disk != nil && t.Disk.Changed(l.disk, s.Disk.Percent)) {
		r |= ReasonDisk
	}
	if (s.Net != nil) != l.hasNet ||
		(s.Net != nil && (t.Net.Changed(l.rx, s.Net.RxBps) || t.Net.Changed(l.tx, s.Net.TxBps))) {
		r |= ReasonNet
	}
	if f.tempsChanged(s.TempC) {
		r |= ReasonTemp
	}
	return r
}

func (f *Filter) tempsChanged(cur map[string]float64) bool {
	if len(cur) != len(f.last.temps) {
		return true
	}
	for k, c := range cur {
		last, ok := f.last.temps[k]
		if !ok || f.t.Temp.Changed(last, c) {
			return true
		}
	}
	return false
}

// flags is the throttling state without Raw: the bits outside the eight
// known flags are not a change.
func flags(t protocol.Throttle) protocol.Throttle {
	t.Raw = 0
	return t
}
