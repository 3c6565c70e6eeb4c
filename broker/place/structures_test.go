package place

import (
	"math"
	"sort"
	"testing"
)

func TestNodeHeapMatchesSort(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := seeded(t, seed)
		var h nodeHeap
		const n = 200
		h.grow(n)
		want := map[int]float64{}
		for step := 0; step < 2000; step++ {
			i := rng.IntN(n)
			if rng.IntN(4) == 0 {
				h.remove(i)
				delete(want, i)
			} else {
				k := float64(rng.IntN(50))
				h.set(i, k)
				want[i] = k
			}
		}
		var ids []int
		for i := range want {
			ids = append(ids, i)
		}
		sort.Slice(ids, func(a, b int) bool {
			if want[ids[a]] != want[ids[b]] {
				return want[ids[a]] < want[ids[b]]
			}
			return ids[a] < ids[b]
		})
		if h.len() != len(ids) {
			t.Fatalf("seed %d: heap has %d nodes, want %d", seed, h.len(), len(ids))
		}
		for _, id := range ids {
			if got := h.at(0); got != id {
				t.Fatalf("seed %d: min is %d, want %d", seed, got, id)
			}
			h.remove(id)
		}
	}
}

func TestFenwickSamplesByWeight(t *testing.T) {
	rng := seeded(t, 7)
	var f fenwick
	weights := []float64{1, 0, 3, 6}
	for i, w := range weights {
		f.grow(i + 1)
		f.set(i, w)
	}
	if got := f.total(); got != 10 {
		t.Fatalf("total = %v, want 10", got)
	}
	counts := make([]int, len(weights))
	const draws = 100000
	for k := 0; k < draws; k++ {
		counts[f.find(rng.Float64()*f.total())]++
	}
	for i, w := range weights {
		got := float64(counts[i]) / draws
		if math.Abs(got-w/10) > 0.01 {
			t.Errorf("index %d drawn %.3f of the time, want %.3f", i, got, w/10)
		}
	}
}

func TestFenwickGrowKeepsSums(t *testing.T) {
	rng := seeded(t, 11)
	var f fenwick
	var w []float64
	for i := 0; i < 300; i++ {
		f.grow(i + 1)
		x := float64(rng.IntN(10))
		f.set(i, x)
		w = append(w, x)
	}
	s := 0.0
	for i, x := range w {
		s += x
		if got := f.prefix(i + 1); math.Abs(got-s) > 1e-9 {
			t.Fatalf("prefix(%d) = %v, want %v", i+1, got, s)
		}
	}
}
