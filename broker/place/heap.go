package place

// nodeHeap is a binary min-heap of node indices keyed by a float64, with O(log n) update and
// removal of any node. pos[node] is the node's slot in items, or -1 when absent. Ties are
// broken by node index so the order is deterministic.
type nodeHeap struct {
	items []int32
	keys  []float64 // by node index
	pos   []int32   // by node index
}

// grow makes room for node indices below n.
func (h *nodeHeap) grow(n int) {
	for len(h.pos) < n {
		h.pos = append(h.pos, -1)
		h.keys = append(h.keys, 0)
	}
}

func (h *nodeHeap) len() int { return len(h.items) }

// at returns the node in heap slot k (slot 0 is the minimum; slots 1..6 are the next levels).
func (h *nodeHeap) at(k int) int { return int(h.items[k]) }

// set inserts node with key, or moves it to key if present.
func (h *nodeHeap) set(node int, key float64) {
	h.keys[node] = key
	if p := h.pos[node]; p >= 0 {
		h.fix(int(p))
		return
	}
	h.items = append(h.items, int32(node))
	h.pos[node] = int32(len(h.items) - 1)
	h.up(len(h.items) - 1)
}

// remove deletes node if present.
func (h *nodeHeap) remove(node int) {
	p := int(h.pos[node])
	if p < 0 {
		return
	}
	last := len(h.items) - 1
	h.swap(p, last)
	h.items = h.items[:last]
	h.pos[node] = -1
	if p < last {
		h.fix(p)
	}
}

func (h *nodeHeap) less(a, b int) bool {
	na, nb := h.items[a], h.items[b]
	ka, kb := h.keys[na], h.keys[nb]
	if ka != kb {
		return ka < kb
	}
	return na < nb
}

func (h *nodeHeap) swap(a, b int) {
	h.items[a], h.items[b] = h.items[b], h.items[a]
	h.pos[h.items[a]] = int32(a)
	h.pos[h.items[b]] = int32(b)
}

func (h *nodeHeap) fix(k int) {
	if !h.down(k) {
		h.up(k)
	}
}

func (h *nodeHeap) up(k int) {
	for k > 0 {
		p := (k - 1) / 2
		if !h.less(k, p) {
			return
		}
		h.swap(k, p)
		k = p
	}
}

func (h *nodeHeap) down(k int) bool {
	start := k
	n := len(h.items)
	for {
		c := 2*k + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(r, c) {
			c = r
		}
		if !h.less(c, k) {
			break
		}
		h.swap(k, c)
		k = c
	}
	return k > start
}
