package links

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// TestFirstSampleIsTheEstimate: one round trip is the estimate, with half
// of it as deviation (RFC 6298 2.2); a second averages with it.
func TestFirstSampleIsTheEstimate(t *testing.T) {
	tb := NewTable()
	e, err := tb.ObserveRTT("pi-a", 40*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e.RTT != 40*time.Millisecond || e.RTTDev != 20*time.Millisecond || e.RTTSamples != 1 || e.At != time.Second {
		t.Fatalf("after one sample: %+v", e)
	}
	e, _ = tb.ObserveRTT("pi-a", 60*time.Millisecond, 2*time.Second)
	if e.RTT != 50*time.Millisecond {
		t.Fatalf("after 40 and 60 ms: %v, want their mean 50 ms", e.RTT)
	}
	if _, ok := tb.Get("pi-b"); ok {
		t.Fatal("a node never measured has an estimate")
	}
}

// TestEstimateFollowsAChangedLink: after a link slows from 10 to 100 ms, the
// estimate is within 10 % of the new round trip within 25 samples, and its
// deviation shrinks again once the link is steady.
func TestEstimateFollowsAChangedLink(t *testing.T) {
	tb := NewTable()
	var e Estimate
	for i := range 50 {
		e, _ = tb.ObserveRTT("pi-a", 10*time.Millisecond, time.Duration(i)*time.Second)
	}
	if e.RTT != 10*time.Millisecond || e.RTTDev > time.Millisecond {
		t.Fatalf("steady at 10 ms: %+v", e)
	}
	n := 0
	for e.RTT < 90*time.Millisecond {
		e, _ = tb.ObserveRTT("pi-a", 100*time.Millisecond, time.Minute)
		if n++; n > 25 {
			t.Fatalf("still %v after 25 samples of 100 ms", e.RTT)
		}
	}
	peak := e.RTTDev
	for range 40 {
		e, _ = tb.ObserveRTT("pi-a", 100*time.Millisecond, time.Minute)
	}
	if e.RTTDev >= peak/10 {
		t.Fatalf("deviation %v after 40 steady samples, was %v", e.RTTDev, peak)
	}
}

// TestTransfersMeasureThroughput: a transfer below MinTransfer is no
// sample; 4 MiB in 4 s is 8.39 Mbit/s; the estimate of several is their
// smoothed rate.
func TestTransfersMeasureThroughput(t *testing.T) {
	tb := NewTable()
	if _, ok, err := tb.ObserveTransfer("pi-a", MinTransfer-1, time.Millisecond, 0); ok || err != nil {
		t.Fatalf("a small transfer: sample %v, %v", ok, err)
	}
	e, ok, err := tb.ObserveTransfer("pi-a", 4<<20, 4*time.Second, time.Second)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if want := float64(4<<20) * 8 / 1e6 / 4; math.Abs(e.Mbps-want) > 1e-9 || e.MbpsSamples != 1 {
		t.Fatalf("%+v, want %.3f Mbit/s from one sample", e, want)
	}
	e, _, _ = tb.ObserveTransfer("pi-a", 4<<20, 2*time.Second, 2*time.Second)
	if want := float64(4<<20) * 8 / 1e6 * 0.375; math.Abs(e.Mbps-want) > 1e-9 {
		t.Fatalf("after 4 s and 2 s transfers: %.3f, want their mean rate %.3f", e.Mbps, want)
	}
}

// TestUpTransfersAreTheirOwnDirection: the transfers a node fetched from
// the scheduler measure the other direction: 8 MiB in 8 s is 8.39 Mbit/s
// up while the throughput from the node stays as its pulls measured it; a
// transfer below MinTransfer is no sample either way, and the WAN keeps
// its up direction apart from its down one too.
func TestUpTransfersAreTheirOwnDirection(t *testing.T) {
	tb := NewTable()
	if _, ok, err := tb.ObserveUpTransfer("pi-a", MinTransfer-1, time.Millisecond, 0); ok || err != nil {
		t.Fatalf("a small transfer: sample %v, %v", ok, err)
	}
	if _, ok := tb.Get("pi-a"); ok {
		t.Fatal("a small transfer made an estimate")
	}
	tb.ObserveTransfer("pi-a", 4<<20, time.Second, time.Second) // 33.55 Mbit/s from the node
	e, ok, err := tb.ObserveUpTransfer("pi-a", 8<<20, 8*time.Second, 2*time.Second)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if want := float64(8<<20) * 8 / 1e6 / 8; math.Abs(e.UpMbps-want) > 1e-9 || e.UpMbpsDev != want/2 || e.UpSamples != 1 {
		t.Fatalf("%+v, want %.3f Mbit/s up from one sample", e, want)
	}
	if want := float64(4<<20) * 8 / 1e6; math.Abs(e.Mbps-want) > 1e-9 || e.MbpsSamples != 1 || e.At != 2*time.Second {
		t.Fatalf("%+v: the down direction changed, or the time did not", e)
	}
	e, _, _ = tb.ObserveUpTransfer("pi-a", 8<<20, 4*time.Second, 3*time.Second)
	if want := float64(8<<20) * 8 / 1e6 * 0.1875; math.Abs(e.UpMbps-want) > 1e-9 || e.UpSamples != 2 {
		t.Fatalf("after 8 s and 4 s transfers: %.3f, want their mean rate %.3f", e.UpMbps, want)
	}
	if _, _, err := tb.ObserveUpTransfer("pi-a", 1<<30, 0, 0); !errors.Is(err, ErrSample) {
		t.Fatalf("a transfer in no time: %v", err)
	}
	w, ok, err := tb.ObserveWANUpTransfer(1<<20, time.Second, time.Second)
	if !ok || err != nil || w.UpSamples != 1 || w.MbpsSamples != 0 || math.Abs(w.UpMbps-8.388608) > 1e-9 {
		t.Fatalf("WAN after one up transfer: %+v, %v, %v", w, ok, err)
	}
}

// TestSamplesOutOfRangeAreRefused: nonsense is an error and leaves the
// estimate as it was.
func TestSamplesOutOfRangeAreRefused(t *testing.T) {
	tb := NewTable()
	tb.ObserveRTT("pi-a", 5*time.Millisecond, 0)
	for _, rtt := range []time.Duration{0, -time.Second, MaxRTT + 1} {
		if _, err := tb.ObserveRTT("pi-a", rtt, 0); !errors.Is(err, ErrSample) {
			t.Errorf("round trip %v: %v, want ErrSample", rtt, err)
		}
	}
	if _, _, err := tb.ObserveTransfer("pi-a", 1<<30, 0, 0); !errors.Is(err, ErrSample) {
		t.Errorf("a transfer in no time: %v", err)
	}
	if _, _, err := tb.ObserveTransfer("pi-a", 1<<40, time.Millisecond, 0); !errors.Is(err, ErrSample) {
		t.Errorf("a transfer above MaxMbps: %v", err)
	}
	if e, _ := tb.Get("pi-a"); e.RTT != 5*time.Millisecond || e.RTTSamples != 1 || e.MbpsSamples != 0 {
		t.Errorf("refused samples changed the estimate: %+v", e)
	}
	tb.Forget("pi-a")
	if tb.Len() != 0 {
		t.Error("Forget kept the estimate")
	}
}

// TestBlendWeighsThePriorAsOneSample.
func TestBlendWeighsThePriorAsOneSample(t *testing.T) {
	for _, c := range []struct {
		prior, measured float64
		n               int
		want            float64
	}{
		{100, 10, 0, 100}, {100, 10, 1, 55}, {100, 10, 9, 19}, {0.002, 0.040, 3, 0.0305},
	} {
		if got := Blend(c.prior, c.measured, c.n); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Blend(%v, %v, %d) = %v, want %v", c.prior, c.measured, c.n, got, c.want)
		}
	}
}

// TestConcurrentUse: recorders and readers at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	tb := NewTable()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 500 {
				tb.ObserveRTT("pi-a", time.Duration(1+i+j)*time.Millisecond, 0)
				tb.ObserveTransfer("pi-a", MinTransfer, time.Second, 0)
				tb.Get("pi-a")
			}
		})
	}
	wg.Wait()
	if e, _ := tb.Get("pi-a"); e.RTTSamples != 2000 || e.MbpsSamples != 2000 {
		t.Fatalf("%+v, want 2000 samples of each", e)
	}
}

// TestWANPoolsItsSamples: the WAN's round trips and transfers, from
// whichever cloud nodes, are smoothed into one estimate, apart from the
// nodes' own; Forget leaves it.
func TestWANPoolsItsSamples(t *testing.T) {
	tb := NewTable()
	if _, ok := tb.WAN(); ok {
		t.Fatal("a WAN estimate before any sample")
	}
	gen := tb.Gen()
	tb.ObserveRTT("vm-1", 100*time.Millisecond, 0)
	tb.ObserveWANRTT(100*time.Millisecond, 0)
	tb.ObserveWANRTT(60*time.Millisecond, time.Second) // another cloud node's
	if _, _, err := tb.ObserveWANTransfer(1<<20, time.Second, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tb.ObserveWANTransfer(MinTransfer-1, time.Second, 3*time.Second); ok {
		t.Fatal("a small transfer was a WAN sample")
	}
	if _, err := tb.ObserveWANRTT(MaxRTT+1, 0); !errors.Is(err, ErrSample) {
		t.Errorf("a WAN round trip above MaxRTT: %v", err)
	}
	w, ok := tb.WAN()
	if !ok || w.RTT != 80*time.Millisecond || w.RTTSamples != 2 || w.MbpsSamples != 1 || w.At != 2*time.Second {
		t.Fatalf("WAN %+v, want 80 ms from 2 samples and 1 transfer at 2 s", w)
	}
	if want := float64(1<<20) * 8 / 1e6; math.Abs(w.Mbps-want) > 1e-9 {
		t.Errorf("WAN %.3f Mbit/s, want %.3f", w.Mbps, want)
	}
	if e, _ := tb.Get("vm-1"); e.RTT != 100*time.Millisecond || e.RTTSamples != 1 {
		t.Errorf("vm-1's own estimate %+v", e)
	}
	tb.Forget("vm-1")
	if _, ok := tb.WAN(); !ok || tb.Len() != 0 {
		t.Error("Forget dropped the WAN or kept the node")
	}
	if tb.Gen() != gen+5 {
		t.Errorf("Gen moved by %d over 5 changes", tb.Gen()-gen)
	}
}
