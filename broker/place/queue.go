package place

import "sort"

// Order is the discipline of a central queue.
type Order uint8

const (
	OrderFIFO     Order = iota // by arrival
	OrderSJF                   // shortest declared work first
	OrderSRTF                  // shortest remaining work first, preemptive
	OrderEDF                   // earliest deadline first, with admission control
	OrderPriority              // highest priority first, aged so nothing starves
)

// queue is a central queue kept sorted by its order's key; ties go to the earlier arrival,
// then the lower ID, so the order is total and deterministic. Insertion is O(q) (binary
// search plus a copy), which is fine for the queue lengths a stable scheduler sees.
type queue struct {
	order Order
	aging float64 // seconds of waiting worth one priority level (OrderPriority)
	items []*Task
}

// key returns the primary sort key of t; smaller runs first.
//
// Priority with aging: effective priority at time τ is p + (τ − arrival)/aging; since every
// task ages at the same rate, comparing effective priorities at any τ is the same as comparing
// arrival − p·aging, a key that never changes. A task of priority p waits behind tasks that
// arrived after it at most (p_max − p)·aging seconds: no starvation.
func (q *queue) key(t *Task) float64 {
	switch q.order {
	case OrderSJF, OrderSRTF:
		return t.Left()
	case OrderEDF:
		if t.Deadline <= 0 {
			return inf
		}
		return t.Deadline
	case OrderPriority:
		return t.Arrival - float64(t.Priority)*q.aging
	}
	return t.Arrival
}

const inf = 1e300

func (q *queue) less(a, b *Task) bool {
	if ka, kb := q.key(a), q.key(b); ka != kb {
		return ka < kb
	}
	if a.Arrival != b.Arrival {
		return a.Arrival < b.Arrival
	}
	return a.ID < b.ID
}

// push inserts t and returns its position.
func (q *queue) push(t *Task) int {
	k := sort.Search(len(q.items), func(j int) bool { return q.less(t, q.items[j]) })
	q.items = append(q.items, nil)
	copy(q.items[k+1:], q.items[k:])
	q.items[k] = t
	return k
}

// removeAt deletes the task at position k.
func (q *queue) removeAt(k int) {
	copy(q.items[k:], q.items[k+1:])
	q.items[len(q.items)-1] = nil
	q.items = q.items[:len(q.items)-1]
}

// ahead returns the work of the queued tasks that run before t.
func (q *queue) ahead(t *Task) float64 {
	w := 0.0
	for _, x := range q.items {
		if !q.less(x, t) {
			break
		}
		w += x.Left()
	}
	return w
}
