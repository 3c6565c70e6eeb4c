package sim

import "github.com/tether-edge/tether/broker/place"

// truth is the oracle's Estimator: it reads the simulator's real state, fresh.
type truth struct{ w *world }

var _ place.Estimator = truth{}

// StartAt replays node i's real FIFO queue (running tasks' real remaining time, then queued
// and in-flight tasks at real speed) and returns when a core frees for one more task.
func (t truth) StartAt(i int, now float64) float64 {
	w := t.w
	n := &w.nodes[i]
	if !n.up {
		return now + 1e9
	}
	c := n.prof.Cores
	if cap(w.scratch) < c {
		w.scratch = make([]float64, c)
	}
	slots := w.scratch[:c]
	for k := range slots {
		slots[k] = 0
	}
	for k, j := range n.running {
		slots[k] = max(0, j.since-now) + max(0, j.left-max(0, now-j.since)*j.rate)/j.rate
	}
	for _, list := range [][]*job{n.queue, n.pending} {
		for _, j := range list {
			m := 0
			for k := 1; k < c; k++ {
				if slots[k] < slots[m] {
					m = k
				}
			}
			slots[m] += j.task.Left() * j.scale / w.rate(i, j.task.Class)
		}
	}
	m := slots[0]
	for _, s := range slots[1:] {
		m = min(m, s)
	}
	return now + m
}

func (t truth) Rate(i, c int) float64 { return t.w.rate(i, c) }

func (t truth) WANUpFreeAt(now float64) float64 { return max(now, t.w.link.upFree) }

func (t truth) WANDownFreeAt(now float64) float64 { return max(now, t.w.link.downFree) }
