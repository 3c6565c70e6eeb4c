package place

// fenwick is a binary indexed tree of non-negative weights: O(log n) update and O(log n)
// sampling of an index with probability proportional to its weight.
type fenwick struct {
	tree []float64 // 1-based partial sums
	w    []float64 // current weight by index
}

func (f *fenwick) grow(n int) {
	if len(f.tree) == 0 {
		f.tree = append(f.tree, 0)
	}
	for len(f.w) < n {
		// The new tree cell k covers (k-lowbit(k), k]; all but its own (zero) weight exist.
		k := len(f.tree)
		f.w = append(f.w, 0)
		f.tree = append(f.tree, f.prefix(k-1)-f.prefix(k-(k&-k)))
	}
}

// prefix returns the sum of the first k weights.
func (f *fenwick) prefix(k int) float64 {
	s := 0.0
	for ; k > 0; k -= k & -k {
		s += f.tree[k]
	}
	return s
}

// set changes the weight of index i.
func (f *fenwick) set(i int, w float64) {
	d := w - f.w[i]
	if d == 0 {
		return
	}
	f.w[i] = w
	for k := i + 1; k < len(f.tree); k += k & -k {
		f.tree[k] += d
	}
}

// total returns the sum of all weights.
func (f *fenwick) total() float64 { return f.prefix(len(f.w)) }

// find returns the index i such that the prefix sum before i is ≤ x < prefix through i, for
// x in [0, total). Rounding may land on a zero-weight index; callers re-check.
func (f *fenwick) find(x float64) int {
	pos := 0
	step := 1
	for step*2 < len(f.tree) {
		step *= 2
	}
	for ; step > 0; step /= 2 {
		if nxt := pos + step; nxt < len(f.tree) && f.tree[nxt] <= x {
			pos = nxt
			x -= f.tree[nxt]
		}
	}
	if pos >= len(f.w) {
		pos = len(f.w) - 1
	}
	return pos
}
