package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestNextGrowsWithinBoundsAndCaps(t *testing.T) {
	b := New(Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: rand.New(rand.NewPCG(1, 2))})
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, c := range ceilings {
		c *= time.Millisecond
		d := b.Next()
		if d < 0 || d > c {
			t.Fatalf("attempt %d: delay %v outside [0, %v]", i, d, c)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: delay %v, want ≤ 100ms", d)
	}
}

func TestJitterSpreadsDelays(t *testing.T) {
	// Two agents with different seeds must not pick the same delays.
	a := New(Policy{Min: time.Second, Max: time.Minute, Rand: rand.New(rand.NewPCG(1, 1))})
	b := New(Policy{Min: time.Second, Max: time.Minute, Rand: rand.New(rand.NewPCG(2, 2))})
	same := 0
	for range 10 {
		if a.Next() == b.Next() {
			same++
		}
	}
	if same > 1 {
		t.Fatalf("%d of 10 delays identical across seeds: no jitter", same)
	}
}

func TestZeroPolicyUsesDefaults(t *testing.T) {
	b := New(Policy{})
	if d := b.Next(); d < 0 || d > DefaultMin {
		t.Fatalf("first delay %v outside [0, %v]", d, DefaultMin)
	}
}

// TestFleetSpreadsOverTheWholeWindow is a fleet of 1,000 agents that lost
// their broker at once, each drawing its delays: full jitter spreads every
// attempt's delays evenly over [0, ceiling] — a quarter of them in each
// quarter of it, averaging half the ceiling — so the broker sees the
// fewest reconnects per second the ceiling allows.
func TestFleetSpreadsOverTheWholeWindow(t *testing.T) {
	const agents = 1000
	fleet := make([]*Backoff, agents)
	for i := range fleet {
		fleet[i] = New(Policy{Min: time.Second, Max: time.Minute, Rand: rand.New(rand.NewPCG(uint64(i), 7))})
	}
	ceiling := time.Second
	for attempt := range 8 {
		var quarters [4]int
		var sum time.Duration
		for _, b := range fleet {
			d := b.Next()
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", attempt, d, ceiling)
			}
			quarters[min(int(4*d/ceiling), 3)]++
			sum += d
		}
		// 250 expected per quarter; ±60 is over 4 standard deviations.
		for q, n := range quarters {
			if n < 190 || n > 310 {
				t.Errorf("attempt %d (ceiling %v): %d of %d delays in quarter %d of the window, want about 250: %v",
					attempt, ceiling, n, agents, q+1, quarters)
			}
		}
		if mean := sum / agents; mean < ceiling*45/100 || mean > ceiling*55/100 {
			t.Errorf("attempt %d: mean delay %v, want about %v", attempt, mean, ceiling/2)
		}
		ceiling = min(2*ceiling, time.Minute)
	}
}
