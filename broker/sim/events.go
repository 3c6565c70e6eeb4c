package sim

import "github.com/tether-edge/tether/broker/place"

// evKind names an event; the handler for each is in world.handle.
type evKind uint8

const (
	evToggle   evKind = iota // a device switches between active and idle
	evArrive                 // a device submits a task
	evInput                  // a task's input reached its node
	evFinish                 // a task finished computing (if gen still matches)
	evResult                 // a task's result reached its source: done
	evSample                 // a node samples its telemetry
	evDeliver                // a telemetry report reaches the scheduler
	evBg                     // a node's background load changes
	evThrottle               // a node enters or leaves thermal throttling
	evCrash                  // a node crashes
	evDetect                 // the scheduler sees the crash (last will)
	evReboot                 // the node is back
	evProbe                  // count tasks in the system (stability check)
	evStarted                // a task's start reaches the scheduler
	evFinished               // a task's finish reaches the scheduler
	evBurst                  // the site's arrivals switch between burst and calm
	evTick                   // the scheduler's tick: held deadline tasks are offered again
)

// event is one entry of the event heap. Events at the same time run in scheduling order
// (seq), which makes a run deterministic.
type event struct {
	at   float64
	seq  uint64
	kind evKind
	id   int32 // node or source index
	gen  int32 // generation the event belongs to; stale events are dropped
	job  *job
	rep  place.Report
	ran  float64 // evFinished: the run's length as the node measured it
}

// evHeap is a binary min-heap of events by (at, seq).
type evHeap []event

func (h evHeap) less(a, b int) bool {
	if h[a].at != h[b].at {
		return h[a].at < h[b].at
	}
	return h[a].seq < h[b].seq
}

func (h *evHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	for k := len(s) - 1; k > 0; {
		p := (k - 1) / 2
		if !s.less(k, p) {
			break
		}
		s[k], s[p] = s[p], s[k]
		k = p
	}
}

func (h *evHeap) pop() event {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = event{}
	s = s[:last]
	for k := 0; ; {
		c := 2*k + 1
		if c >= len(s) {
			break
		}
		if r := c + 1; r < len(s) && s.less(r, c) {
			c = r
		}
		if !s.less(c, k) {
			break
		}
		s[k], s[c] = s[c], s[k]
		k = c
	}
	*h = s
	return top
}
