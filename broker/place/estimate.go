package place

// Estimator answers the cost model's questions about one node. The Fleet answers from the
// scheduler's own record and learned rates; the simulator answers from the truth, for the
// oracle.
type Estimator interface {
	// StartAt is the earliest time node i can start a task assigned now.
	StartAt(i int, now float64) float64
	// Rate is one core's speed on node i for task class c, in work units per second.
	Rate(i, c int) float64
	// WANUpFreeAt is when the WAN uplink can start a new upload.
	WANUpFreeAt(now float64) float64
	// WANDownFreeAt is when the WAN downlink will have delivered the results already due.
	WANDownFreeAt(now float64) float64
}

var _ Estimator = (*Fleet)(nil)

// Completion estimates when task t would be done, result delivered, if assigned to node i
// now: the input transfer overlaps the queueing wait, then compute, then the result goes back
// to the task's source, behind the results already due on the WAN downlink for the cloud.
//
//	finish = max(now + transfer in, start) + work ÷ rate
//	done   = max(finish, downlink free) + transfer out
func Completion(f *Fleet, e Estimator, i int, t *Task, now float64) float64 {
	in, out := Transfer(f, i, t, e.WANUpFreeAt(now)-now)
	start := max(now+in, e.StartAt(i, now))
	finish := start + t.Left()/e.Rate(i, t.Class)
	if f.Node(i).Tier == TierCloud && t.Source != i {
		finish = max(finish, e.WANDownFreeAt(now))
	}
	return finish + out
}

// Transfer returns the seconds to move t's input to node i and its result back, given the
// wait before the WAN uplink frees. A hop costs its RTT plus bytes over its bandwidth; two
// hops in series are pipelined, so their RTTs add and the slower bandwidth rules.
func Transfer(f *Fleet, i int, t *Task, wanWait float64) (in, out float64) {
	n := f.Node(i)
	if t.Source == i {
		return 0, 0
	}
	srcRTT, srcBW := 0.0, 0.0 // a source at the site adds no hop
	if t.Source >= 0 {
		s := f.Node(t.Source)
		srcRTT, srcBW = s.RTT, s.Bandwidth
	}
	if n.Tier == TierCloud {
		w := f.WAN()
		in = wanWait + srcRTT + w.RTT + t.InBytes/minBW(srcBW, w.Up)
		out = srcRTT + w.RTT + t.OutBytes/minBW(srcBW, w.Down)
		return in, out
	}
	in = srcRTT + n.RTT + t.InBytes/minBW(srcBW, n.Bandwidth)
	out = srcRTT + n.RTT + t.OutBytes/minBW(srcBW, n.Bandwidth)
	return in, out
}

// minBW returns the slower of two bandwidths, where 0 means "no hop".
func minBW(a, b float64) float64 {
	switch {
	case a <= 0:
		return max(b, 1)
	case b <= 0:
		return a
	}
	return min(a, b)
}
