package place

// Estimator answers the cost model's questions about one node. The View answers from the
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

var _ Estimator = (*View)(nil)

// Pessimistic is the View as an Estimator whose rates are RateQuantile's: a Completion
// through it is planned on about the 90th percentile of the run time, as a deadline should
// be. The placement policies use the mean (the View itself).
type Pessimistic struct{ *View }

// Rate is the View's RateQuantile.
func (p Pessimistic) Rate(i, c int) float64 { return p.View.RateQuantile(i, c) }

var _ Estimator = Pessimistic{}

// Completion estimates when task t would be done, result delivered, if assigned to node i
// now: the input transfer overlaps the queueing wait, then compute, then the result goes back
// to the task's source, behind the results already due on the WAN downlink for the cloud.
//
//	finish = max(now + transfer in, start) + work ÷ rate
//	done   = max(finish, downlink free) + transfer out
//
// Input held in the cloud tier and run on an edge node crosses the WAN the other way: it
// waits behind the downlink's backlog, and its result behind the uplink's.
func Completion(f *View, e Estimator, i int, t *Task, now float64) float64 {
	in, out := Transfer(f, i, t, Waits(e, now))
	start := max(now+in, e.StartAt(i, now))
	finish := start + t.Left()/e.Rate(i, t.Class)
	switch {
	case f.Node(i).Tier == TierCloud && crossesWAN(t, i):
		finish = max(finish, e.WANDownFreeAt(now))
	case f.comesDown(t, i):
		finish = max(finish, e.WANUpFreeAt(now))
	}
	return finish + out
}

// WANWaits are how long the shared WAN link is busy, in each direction, with what is
// already booked on it: what a transfer crossing it now queues behind.
type WANWaits struct{ Up, Down float64 }

// Waits returns e's WAN waits at now.
func Waits(e Estimator, now float64) WANWaits {
	return WANWaits{Up: e.WANUpFreeAt(now) - now, Down: e.WANDownFreeAt(now) - now}
}

// crossesWAN reports whether t's input and result cross the WAN to and from cloud node i.
func crossesWAN(t *Task, i int) bool { return t.Source != i && t.Source != SourceCloud }

// comesDown reports whether t's input comes down the WAN to node i: i is at the edge and the
// input in the cloud tier or on a cloud node. Its result then goes back up.
func (f *View) comesDown(t *Task, i int) bool {
	if f.Node(i).Tier == TierCloud {
		return false
	}
	return t.Source == SourceCloud || t.Source >= 0 && t.Source != i && f.Node(t.Source).Tier == TierCloud
}

// Transfer returns the seconds to move t's input to node i and its result back, given how
// long the WAN is busy in each direction (w: the input waits behind the direction it
// crosses). A hop costs its RTT plus bytes over its bandwidth; two hops in series are
// pipelined, so their RTTs add and the slower bandwidth rules. Input in the cloud tier
// (SourceCloud) costs nothing to move to a cloud node; to an edge node it comes down the WAN
// and over the node's link, as does input held on a cloud node. Input already fetched to
// node i (Task.Fetched) costs the node's RTT, the assignment's way there. The result's own
// wait for the WAN is Completion's.
func Transfer(f *View, i int, t *Task, w WANWaits) (in, out float64) {
	n := f.Node(i)
	if t.Source == i || t.Source == SourceCloud && n.Tier == TierCloud {
		return 0, 0
	}
	if t.Fetched == i+1 {
		_, out = Transfer(f, i, &Task{Source: t.Source, OutBytes: t.OutBytes}, WANWaits{})
		return n.RTT, out
	}
	srcRTT, srcBW := 0.0, 0.0 // a source at the site adds no hop
	switch {
	case t.Source >= 0:
		s := f.Node(t.Source)
		srcRTT, srcBW = s.RTT, s.Bandwidth
	case t.Source == SourceCloud:
		wan := f.WAN()
		in = wan.RTT + n.RTT + t.InBytes/minBW(wan.Down, n.InBandwidth())
		out = wan.RTT + n.RTT + t.OutBytes/minBW(wan.Up, n.Bandwidth)
		return in + w.Down, out
	}
	if n.Tier == TierCloud {
		rtt, up, down := f.cloudPath(n)
		in = w.Up + srcRTT + rtt + t.InBytes/minBW(srcBW, up)
		out = srcRTT + rtt + t.OutBytes/minBW(srcBW, down)
		return in, out
	}
	in = srcRTT + n.RTT + t.InBytes/minBW(srcBW, n.InBandwidth())
	out = srcRTT + n.RTT + t.OutBytes/minBW(srcBW, n.Bandwidth)
	if f.comesDown(t, i) {
		in += w.Down
	}
	return in, out
}

// cloudPath returns the round trip and the up and down bandwidths between the site and cloud
// node n: the WAN's, unless the node declares its own round trip (a farther region) or a
// slower bandwidth.
func (f *View) cloudPath(n *NodeSpec) (rtt, up, down float64) {
	w := f.wan
	rtt, up, down = w.RTT, w.Up, w.Down
	if n.RTT > 0 {
		rtt = n.RTT
	}
	if n.Bandwidth > 0 {
		up, down = minBW(up, n.InBandwidth()), minBW(down, n.Bandwidth)
	}
	return rtt, up, down
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
