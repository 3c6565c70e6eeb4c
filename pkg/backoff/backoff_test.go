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
		if d < c/2 || d > c {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, c/2, c)
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
	if d := b.Next(); d < DefaultMin/2 || d > DefaultMin {
		t.Fatalf("first delay %v outside [%v, %v]", d, DefaultMin/2, DefaultMin)
	}
}
