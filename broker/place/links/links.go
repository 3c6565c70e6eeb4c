// Package links estimates each node's link to the site from what the
// scheduler measures: round trips of light probes and the throughput of
// real blob transfers, each direction apart (the blobs it pulls from a
// node, those a node fetches from it). It is pure and safe for concurrent use: the
// scheduler records measurements as they come, placement reads the
// estimates (broker/place/live), and the fleet view shows them.
//
// An estimate is smoothed like TCP's round-trip timer (RFC 6298): a mean
// and a mean deviation, each an exponentially weighted average. The first
// samples weigh more (1/2, 1/3, … down to the steady weight), so an
// estimate is useful after one measurement and follows a link that changes
// within a few. Placement treats the configured link (labels, the LAN and
// WAN settings) as a prior and the estimate as evidence (Blend).
package links

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Estimate is one node's link as measured.
type Estimate struct {
	// RTT is the smoothed round trip between the scheduler and the node
	// through the broker, RTTDev its mean deviation.
	RTT, RTTDev time.Duration
	RTTSamples  int
	// Mbps is the smoothed throughput of blob transfers from the node to
	// the scheduler in megabits per second (what a window of chunks
	// achieves over the link: bandwidth, or window / RTT if that is
	// less), MbpsDev its mean deviation.
	Mbps, MbpsDev float64
	MbpsSamples   int
	// UpMbps is the same of the other direction, from the scheduler to
	// the node: the blobs the node fetched from the scheduler, as the
	// scheduler timed serving them (an input it holds; for a cloud node
	// the WAN's up direction). UpMbpsDev is its mean deviation.
	UpMbps, UpMbpsDev float64
	UpSamples         int
	// At is when the latest sample was taken (monotonic: time since the
	// table's clock origin).
	At time.Duration
}

// Steady weights of a new sample, as in RFC 6298 (α = 1/8, β = 1/4); a
// throughput sample comes from a whole transfer, so it weighs as a
// deviation does.
const (
	rttWeight  = 1.0 / 8
	devWeight  = 1.0 / 4
	rateWeight = 1.0 / 4
)

// Bounds of a sample; one outside them is refused, not smoothed in.
const (
	MaxRTT  = 10 * time.Minute
	MaxMbps = 1e6
	// MinTransfer is the smallest transfer whose throughput is a sample:
	// below it the round trip, not the link's rate, sets the time.
	MinTransfer = 256 << 10
)

// ErrSample is wrapped by a refused sample.
var ErrSample = errors.New("link sample out of range")

// Table holds the estimates by node, and the WAN's: the site's shared link
// to the cloud tier, pooled from the samples of the cloud nodes behind it
// (ObserveWANRTT, ObserveWANTransfer).
type Table struct {
	mu  sync.Mutex // guards m, wan and gen
	m   map[string]*Estimate
	wan *Estimate // nil before a first WAN sample
	gen uint64    // counts changes (Gen)
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: map[string]*Estimate{}} }

// ObserveRTT records a round trip to node measured at now.
func (t *Table) ObserveRTT(node string, rtt, now time.Duration) (Estimate, error) {
	if err := checkRTT(rtt); err != nil {
		return Estimate{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.get(node)
	e.addRTT(rtt, now)
	t.gen++
	return *e, nil
}

// ObserveTransfer records a transfer of n bytes from node that took
// elapsed, measured at now. A transfer below MinTransfer is no sample: it
// reports false and no error.
func (t *Table) ObserveTransfer(node string, n int64, elapsed, now time.Duration) (Estimate, bool, error) {
	return t.observe(n, elapsed, now, func() *Estimate { return t.get(node) }, (*Estimate).addMbps)
}

// ObserveUpTransfer records a transfer of n bytes to node (a blob it
// fetched from the scheduler) that took elapsed, measured at now, as
// ObserveTransfer does for the other direction.
func (t *Table) ObserveUpTransfer(node string, n int64, elapsed, now time.Duration) (Estimate, bool, error) {
	return t.observe(n, elapsed, now, func() *Estimate { return t.get(node) }, (*Estimate).addUpMbps)
}

// observe adds a transfer's rate to the estimate est returns (called
// under the table's lock) with add, one direction's.
func (t *Table) observe(n int64, elapsed, now time.Duration, est func() *Estimate, add func(*Estimate, float64, time.Duration)) (Estimate, bool, error) {
	mbps, ok, err := transferMbps(n, elapsed)
	if !ok || err != nil {
		return Estimate{}, ok, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := est()
	add(e, mbps, now)
	t.gen++
	return *e, true, nil
}

// wanEstimate is the WAN's estimate, made on first use; under t.mu.
func (t *Table) wanEstimate() *Estimate {
	if t.wan == nil {
		t.wan = &Estimate{}
	}
	return t.wan
}

// ObserveWANRTT records a round trip measured at now to a cloud node whose
// path to the site is the WAN: every such node's probes are samples of the
// one shared estimate, smoothed in the order they come.
func (t *Table) ObserveWANRTT(rtt, now time.Duration) (Estimate, error) {
	if err := checkRTT(rtt); err != nil {
		return Estimate{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.wanEstimate()
	e.addRTT(rtt, now)
	t.gen++
	return *e, nil
}

// ObserveWANTransfer records a transfer of n bytes over the WAN (from a
// cloud node to the site: the WAN's down direction) that took elapsed,
// as ObserveTransfer does for a node.
func (t *Table) ObserveWANTransfer(n int64, elapsed, now time.Duration) (Estimate, bool, error) {
	return t.observe(n, elapsed, now, t.wanEstimate, (*Estimate).addMbps)
}

// ObserveWANUpTransfer records a transfer of n bytes over the WAN from the
// site to a cloud node (the WAN's up direction) that took elapsed, as
// ObserveUpTransfer does for a node.
func (t *Table) ObserveWANUpTransfer(n int64, elapsed, now time.Duration) (Estimate, bool, error) {
	return t.observe(n, elapsed, now, t.wanEstimate, (*Estimate).addUpMbps)
}

// WAN returns the WAN's estimate, if it has one.
func (t *Table) WAN() (Estimate, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.wan == nil {
		return Estimate{}, false
	}
	return *t.wan, true
}

// Get returns node's estimate, if it has one.
func (t *Table) Get(node string) (Estimate, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[node]
	if !ok {
		return Estimate{}, false
	}
	return *e, true
}

// Forget drops node's estimate (the node was removed from the region).
// The WAN's keeps the samples node gave it.
func (t *Table) Forget(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[node]; ok {
		delete(t.m, node)
		t.gen++
	}
}

// Len returns how many nodes have an estimate.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Gen counts the table's changes: a saver compares it with the count it
// saved at.
func (t *Table) Gen() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

func (t *Table) get(node string) *Estimate {
	e, ok := t.m[node]
	if !ok {
		e = &Estimate{}
		t.m[node] = e
	}
	return e
}

func checkRTT(rtt time.Duration) error {
	if rtt <= 0 || rtt > MaxRTT {
		return fmt.Errorf("%w: round trip %v is outside (0, %v]", ErrSample, rtt, MaxRTT)
	}
	return nil
}

// transferMbps is the throughput of n bytes in elapsed; false for a
// transfer too small to be a sample.
func transferMbps(n int64, elapsed time.Duration) (float64, bool, error) {
	if n < MinTransfer {
		return 0, false, nil
	}
	if elapsed <= 0 {
		return 0, false, fmt.Errorf("%w: a transfer of %d bytes in %v", ErrSample, n, elapsed)
	}
	mbps := float64(n) * 8 / 1e6 / elapsed.Seconds()
	if mbps > MaxMbps {
		return 0, false, fmt.Errorf("%w: %.0f Mbit/s is above %g", ErrSample, mbps, float64(MaxMbps))
	}
	return mbps, true, nil
}

// addRTT smooths a round trip into e (RFC 6298).
func (e *Estimate) addRTT(rtt, now time.Duration) {
	e.RTTSamples++
	a, b := weight(e.RTTSamples, rttWeight), weight(e.RTTSamples, devWeight)
	if e.RTTSamples == 1 {
		e.RTT, e.RTTDev = rtt, rtt/2 // RFC 6298 2.2
	} else {
		e.RTTDev = time.Duration((1-b)*float64(e.RTTDev) + b*abs(float64(e.RTT-rtt)))
		e.RTT = time.Duration((1-a)*float64(e.RTT) + a*float64(rtt))
	}
	e.At = now
}

// addMbps smooths a throughput from the node into e.
func (e *Estimate) addMbps(mbps float64, now time.Duration) {
	smoothRate(&e.Mbps, &e.MbpsDev, &e.MbpsSamples, mbps)
	e.At = now
}

// addUpMbps smooths a throughput to the node into e.
func (e *Estimate) addUpMbps(mbps float64, now time.Duration) {
	smoothRate(&e.UpMbps, &e.UpMbpsDev, &e.UpSamples, mbps)
	e.At = now
}

// smoothRate smooths a throughput sample into a mean, its deviation and
// their count.
func smoothRate(mean, dev *float64, n *int, mbps float64) {
	*n++
	w := weight(*n, rateWeight)
	if *n == 1 {
		*mean, *dev = mbps, mbps/2
	} else {
		*dev = (1-w)**dev + w*abs(*mean-mbps)
		*mean = (1-w)**mean + w*mbps
	}
}

// weight is a sample's weight when it is the n-th: 1/n for the first
// samples (their plain mean), then the steady weight.
func weight(n int, steady float64) float64 { return max(1/float64(n), steady) }

// Blend returns what placement uses for a quantity with a configured
// prior and a measured value from n samples: the prior counts as one
// sample, so one measurement moves halfway and a handful dominate. With no
// samples it is the prior.
func Blend(prior, measured float64, n int) float64 {
	if n <= 0 {
		return prior
	}
	return (prior + float64(n)*measured) / float64(n+1)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
