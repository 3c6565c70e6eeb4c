package powerloss

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSeqSetAdd(t *testing.T) {
	var s SeqSet
	steps := []struct {
		from, to, dup uint64
		want          string
	}{
		{5, 9, 0, "5-9"},
		{10, 10, 0, "5-10"},
		{20, 25, 0, "5-10,20-25"},
		{1, 2, 0, "1-2,5-10,20-25"},
		{3, 4, 0, "1-10,20-25"},
		{8, 21, 5, "1-25"},
		{30, 30, 0, "1-25,30"},
		{25, 30, 2, "1-30"},
	}
	for _, st := range steps {
		if dup := s.Add(st.from, st.to); dup != st.dup || s.String() != st.want {
			t.Fatalf("Add(%d,%d): dup=%d set=%s, want dup=%d set=%s", st.from, st.to, dup, s.String(), st.dup, st.want)
		}
	}
	if s.Len() != 30 || !s.Contains(1) || !s.Contains(30) || s.Contains(31) || s.Contains(0) {
		t.Errorf("Len/Contains wrong on %s", s.String())
	}
}

func TestSeqSetMinus(t *testing.T) {
	var a, b SeqSet
	a.Add(1, 20)
	a.Add(30, 40)
	a.Add(math.MaxUint64-2, math.MaxUint64)
	b.Add(3, 5)
	b.Add(18, 32)
	b.Add(40, 50)
	b.Add(math.MaxUint64-1, math.MaxUint64)
	if got, want := a.Minus(&b).String(), "1-2,6-17,33-39,18446744073709551613"; got != want {
		t.Errorf("Minus = %s, want %s", got, want)
	}
}

// TestSeqSetModel checks the set against a map on seeded random input.
func TestSeqSetModel(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := 0; round < 200; round++ {
		var a, b SeqSet
		ma, mb := map[uint64]bool{}, map[uint64]bool{}
		for i := 0; i < 20; i++ {
			for _, x := range []struct {
				s *SeqSet
				m map[uint64]bool
			}{{&a, ma}, {&b, mb}} {
				from := rng.Uint64N(200)
				to := from + rng.Uint64N(10)
				var dup uint64
				for v := from; v <= to; v++ {
					if x.m[v] {
						dup++
					}
					x.m[v] = true
				}
				if got := x.s.Add(from, to); got != dup {
					t.Fatalf("seed %d: Add(%d,%d) dup=%d, want %d", seed, from, to, got, dup)
				}
			}
		}
		d := a.Minus(&b)
		for v := uint64(0); v < 220; v++ {
			if a.Contains(v) != ma[v] || d.Contains(v) != (ma[v] && !mb[v]) {
				t.Fatalf("seed %d: seq %d: set %s minus %s = %s", seed, v, a.String(), b.String(), d.String())
			}
		}
	}
}
