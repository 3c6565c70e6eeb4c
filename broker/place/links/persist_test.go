package links

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var wall0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// measured returns a table with pi-a's and the WAN's estimates, the
// latest samples taken at 90 s on its monotonic clock.
func measured(t *testing.T) *Table {
	t.Helper()
	tb := NewTable()
	for i := range 40 {
		tb.ObserveRTT("pi-a", 8*time.Millisecond, time.Duration(i)*time.Second)
		tb.ObserveWANRTT(120*time.Millisecond, time.Duration(i)*time.Second)
	}
	for range 8 {
		if _, _, err := tb.ObserveTransfer("pi-a", 1<<20, 100*time.Millisecond, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tb.ObserveWANTransfer(1<<20, time.Second, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, _, err := tb.ObserveUpTransfer("pi-a", 1<<20, 400*time.Millisecond, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tb.ObserveWANUpTransfer(1<<20, 4*time.Second, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

// TestRestartKeepsTheEstimates: a table saved, encoded, decoded and
// restored a moment later holds what it held, each sample's time on the
// new monotonic clock.
func TestRestartKeepsTheEstimates(t *testing.T) {
	tb := measured(t)
	b, err := Encode(tb.Save(wall0, 100*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	back := NewTable()
	if kept, dropped := back.Restore(s, wall0.Add(time.Second), 2*time.Second); kept != 1 || dropped != 0 {
		t.Fatalf("kept %d, dropped %d; want 1 and 0", kept, dropped)
	}
	// 10 s before the save, 1 s before it was restored: 11 s ago.
	want, _ := tb.Get("pi-a")
	want.At = 2*time.Second - 11*time.Second
	if got, _ := back.Get("pi-a"); got != want {
		t.Errorf("pi-a restored %+v, want %+v", got, want)
	}
	wantWAN, _ := tb.WAN()
	wantWAN.At = want.At
	if got, ok := back.WAN(); !ok || got != wantWAN {
		t.Errorf("WAN restored %+v, want %+v", got, wantWAN)
	}
}

// TestFileWithoutTheUpDirectionLoads: a file written before the up
// direction was measured loads, with no up samples; a node measured only
// up is saved and restored.
func TestFileWithoutTheUpDirectionLoads(t *testing.T) {
	old := `{"v":1,"nodes":{"pi-a":{"rtt_ns":8000000,"rtt_dev_ns":1000,"rtt_samples":40,"mbps":83.9,"mbps_dev":1,"mbps_samples":8,"at":"2026-12-06T12:00:00Z"}},` +
		`"wan":{"mbps":8.4,"mbps_dev":0.5,"mbps_samples":8,"at":"2026-12-06T12:00:00Z"}}`
	s, err := Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	tb := NewTable()
	if kept, _ := tb.Restore(s, wall0, time.Minute); kept != 1 {
		t.Fatalf("kept %d of the old file's nodes", kept)
	}
	if e, _ := tb.Get("pi-a"); e.UpSamples != 0 || e.MbpsSamples != 8 || e.RTTSamples != 40 {
		t.Fatalf("pi-a from the old file: %+v", e)
	}
	tb.ObserveUpTransfer("pi-up", 1<<20, time.Second, time.Minute)
	b, err := Encode(tb.Save(wall0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"up_samples":1`) {
		t.Fatalf("the up direction is not saved: %s", b)
	}
	s, err = Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	back := NewTable()
	back.Restore(s, wall0, time.Minute)
	if e, ok := back.Get("pi-up"); !ok || e.UpSamples != 1 || math.Abs(e.UpMbps-8.388608) > 1e-9 {
		t.Fatalf("pi-up restored %+v, %v", e, ok)
	}
}

// TestOldEstimatesDecayTowardThePrior: the sample counts halve every
// HalfLife (rounded), so the blend moves back toward the prior; a quantity left with
// no sample, and an estimate MaxAge old, are dropped.
func TestOldEstimatesDecayTowardThePrior(t *testing.T) {
	tb := measured(t) // 40 round trips, 8 transfers
	s := tb.Save(wall0, 90*time.Second)
	for _, c := range []struct {
		age        time.Duration
		rtt, trans int
	}{
		{0, 40, 8}, {time.Minute, 40, 8}, {HalfLife, 20, 4}, {2 * HalfLife, 10, 2}, {3 * HalfLife, 5, 1},
		{5 * HalfLife, 1, 0}, {7 * HalfLife, 0, 0}, {MaxAge, 0, 0},
		{-time.Hour, 40, 8}, // stamped in the future: the clock was set back
	} {
		back := NewTable()
		back.Restore(s, wall0.Add(c.age), 0)
		e, ok := back.Get("pi-a")
		w, wok := back.WAN()
		if c.rtt == 0 && c.trans == 0 {
			if ok || wok || back.Len() != 0 {
				t.Errorf("aged %v: kept %+v and WAN %+v, want both dropped", c.age, e, w)
			}
			continue
		}
		if e.RTTSamples != c.rtt || e.MbpsSamples != c.trans || w.RTTSamples != c.rtt || w.MbpsSamples != c.trans {
			t.Errorf("aged %v: %d and %d samples (WAN %d and %d), want %d and %d",
				c.age, e.RTTSamples, e.MbpsSamples, w.RTTSamples, w.MbpsSamples, c.rtt, c.trans)
		}
		if c.trans == 0 && (e.Mbps != 0 || e.MbpsDev != 0) {
			t.Errorf("aged %v: a throughput with no samples left: %+v", c.age, e)
		}
		if e.RTT != 8*time.Millisecond {
			t.Errorf("aged %v: round trip %v, want the saved 8 ms", c.age, e.RTT)
		}
	}
	// What placement uses after an hour: halfway back toward a 2 ms prior
	// by the weight of 20 samples instead of 40.
	back := NewTable()
	back.Restore(s, wall0.Add(HalfLife), 0)
	e, _ := back.Get("pi-a")
	if got, want := Blend(0.002, e.RTT.Seconds(), e.RTTSamples), (0.002+20*0.008)/21; got != want {
		t.Errorf("blend after an hour %v, want %v", got, want)
	}
}

// TestDecodeRefusesOutOfRange: every value outside what a sample can give
// is refused with ErrSaved and a message that names it.
func TestDecodeRefusesOutOfRange(t *testing.T) {
	const at = `"at":"2026-12-06T12:00:00Z"`
	for name, c := range map[string]struct{ json, says string }{
		"not json":             {`{"v":1,`, "unexpected end"},
		"version":              {`{"v":2}`, "version 2"},
		"node id":              {`{"v":1,"nodes":{"a/b":{"rtt_ns":1,"rtt_samples":1,` + at + `}}}`, "node"},
		"negative rtt":         {`{"v":1,"nodes":{"pi":{"rtt_ns":-1,"rtt_samples":1,` + at + `}}}`, "round trip"},
		"rtt above max":        {`{"v":1,"nodes":{"pi":{"rtt_ns":600000000001,"rtt_samples":1,` + at + `}}}`, "round trip"},
		"rtt without samples":  {`{"v":1,"nodes":{"pi":{"rtt_ns":5,"mbps":1,"mbps_samples":1,` + at + `}}}`, "without samples"},
		"negative count":       {`{"v":1,"nodes":{"pi":{"rtt_ns":5,"rtt_samples":-1,` + at + `}}}`, "sample counts"},
		"count above max":      {`{"v":1,"nodes":{"pi":{"rtt_ns":5,"rtt_samples":2147483648,` + at + `}}}`, "sample counts"},
		"no samples":           {`{"v":1,"nodes":{"pi":{` + at + `}}}`, "no samples"},
		"mbps above max":       {`{"v":1,"wan":{"mbps":1000001,"mbps_samples":1,` + at + `}}`, "throughput"},
		"zero mbps":            {`{"v":1,"wan":{"mbps":0,"mbps_samples":3,` + at + `}}`, "throughput"},
		"negative deviation":   {`{"v":1,"wan":{"mbps":3,"mbps_dev":-1,"mbps_samples":3,` + at + `}}`, "throughput"},
		"up without samples":   {`{"v":1,"nodes":{"pi":{"up_mbps":2,"rtt_ns":5,"rtt_samples":1,` + at + `}}}`, "up throughput without samples"},
		"zero up mbps":         {`{"v":1,"wan":{"up_mbps":0,"up_samples":2,` + at + `}}`, "up throughput"},
		"up above max":         {`{"v":1,"wan":{"up_mbps":1000001,"up_samples":2,` + at + `}}`, "up throughput"},
		"negative up count":    {`{"v":1,"wan":{"up_mbps":1,"up_samples":-2,` + at + `}}`, "sample counts"},
		"no time":              {`{"v":1,"wan":{"mbps":3,"mbps_samples":3}}`, "sampled at"},
		"wan rtt without time": {`{"v":1,"wan":{"rtt_ns":3,"rtt_samples":3,"at":"1970-01-01T00:00:00Z"}}`, "sampled at"},
	} {
		_, err := Decode([]byte(c.json))
		if !errors.Is(err, ErrSaved) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrSaved saying %q", name, err, c.says)
		}
	}
}

// FuzzDecode: whatever the file holds, Decode returns a valid table or an
// error, and what it accepts encodes again to the same table.
func FuzzDecode(f *testing.F) {
	tb := NewTable()
	tb.ObserveRTT("pi-a", 3*time.Millisecond, time.Second)
	tb.ObserveTransfer("pi-b", 1<<20, time.Second, time.Second)
	tb.ObserveWANRTT(70*time.Millisecond, time.Second)
	tb.ObserveUpTransfer("pi-c", 1<<20, time.Second, time.Second)
	tb.ObserveWANUpTransfer(1<<20, 2*time.Second, time.Second)
	b, err := Encode(tb.Save(wall0, 2*time.Second))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"nodes":{}}`))
	f.Add([]byte(`{"v":1,"wan":{"rtt_ns":5,"rtt_samples":1,"mbps":2.5,"mbps_dev":0.5,"mbps_samples":7,"at":"2026-01-02T03:04:05.123+02:00"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrSaved) {
				t.Fatalf("error %v does not wrap ErrSaved", err)
			}
			return
		}
		b, err := Encode(s)
		if err != nil {
			t.Fatalf("accepted %q, and encoding it failed: %v", data, err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("accepted %q, and its encoding %q is refused: %v", data, b, err)
		}
		if d := cmp.Diff(s, again); d != "" {
			t.Fatalf("accepted %q; encoded and decoded again differs (-first +again):\n%s", data, d)
		}
		NewTable().Restore(s, wall0, 0) // never panics on what Decode accepts
	})
}
