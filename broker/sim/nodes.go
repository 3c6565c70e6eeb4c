package sim

import "github.com/tether-edge/tether/broker/place"

// Background load: a node is "busy" with foreign work (the device's own application, a
// backup, an update) a BgBusyShare of the time, taking 40–80 % of its CPU, otherwise 0–10 %;
// the level changes on average every bgChangeMean seconds. Tether's assumption for shared
// devices; the means below feed the load calibration.
const (
	bgChangeMean = 60.0
	bgBusyMean   = 0.6
	bgQuietMean  = 0.05
)

// rate is the true speed of one core of node i for class c right now.
func (w *world) rate(i, c int) float64 {
	n := &w.nodes[i]
	r := n.prof.Speed * n.prof.ClassFactor[c] * (1 - n.bg)
	if n.throttled {
		r *= n.prof.ThrottleSpeed
	}
	if n.undervolt {
		r *= n.prof.UndervoltSpeed
	}
	return max(r, 1e-6)
}

// health returns the flags node i would report now.
func (w *world) health(i int) place.Health {
	var h place.Health
	if w.nodes[i].throttled {
		h |= place.Throttled
	}
	if w.nodes[i].undervolt {
		h |= place.Undervoltage
	}
	return h
}

// rerate brings every running task of node i up to now and reschedules its finish at the
// node's new speed.
func (w *world) rerate(i int) {
	for _, j := range w.nodes[i].running {
		if w.now > j.since {
			j.left = max(0, j.left-(w.now-j.since)*j.rate)
			j.since = w.now
		}
		j.rate = w.rate(i, j.task.Class) * j.speed
		j.gen++
		w.push(event{at: j.since + j.left/j.rate, kind: evFinish, id: int32(i), gen: j.gen, job: j})
	}
}

func (w *world) onBg(i int) {
	if w.dyn.Float64() < w.cfg.BgBusyShare {
		w.nodes[i].bg = 0.4 + 0.4*w.dyn.Float64()
	} else {
		w.nodes[i].bg = 0.1 * w.dyn.Float64()
	}
	w.rerate(i)
	w.push(event{at: w.now + w.exp(w.dyn, bgChangeMean), kind: evBg, id: int32(i)})
}

func (w *world) onThrottle(i int) {
	n := &w.nodes[i]
	n.throttled = !n.throttled
	next := n.prof.ThrottleEvery
	if n.throttled {
		next = n.prof.ThrottleFor
	}
	w.rerate(i)
	w.push(event{at: w.now + w.exp(w.dyn, next), kind: evThrottle, id: int32(i)})
}

// onSample sends node i's telemetry, which reaches the scheduler Staleness seconds later.
func (w *world) onSample(i int) {
	n := &w.nodes[i]
	if n.up && (w.cfg.ReportLoss == 0 || w.net.Float64() >= w.cfg.ReportLoss) {
		rep := place.Report{At: w.now, BgLoad: n.bg, Health: w.health(i), Queue: len(n.queue) + len(n.running)}
		w.push(event{at: w.now + w.cell.Stale, kind: evDeliver, id: int32(i), rep: rep})
	}
	w.push(event{at: w.now + w.cfg.ReportEvery, kind: evSample, id: int32(i)})
}

// scheduleCrash draws node i's next crash.
func (w *world) scheduleCrash(i int) {
	n := &w.nodes[i]
	if !w.cfg.Crashes || n.prof.MTBF <= 0 {
		return
	}
	mtbf := n.prof.MTBF
	if n.undervolt {
		mtbf /= n.prof.UndervoltCrash
	}
	w.push(event{at: w.now + w.exp(w.dyn, mtbf), kind: evCrash, id: int32(i)})
}

// onCrash kills node i: everything on it is lost until the scheduler notices.
func (w *world) onCrash(i int) {
	n := &w.nodes[i]
	w.account(i)
	n.up = false
	n.epoch++
	n.crashes++
	for _, list := range [][]*job{n.pending, n.queue, n.running} {
		for _, j := range list {
			j.state = jsLost
			j.gen++
		}
	}
	n.pending, n.queue, n.running = n.pending[:0], n.queue[:0], n.running[:0]
	w.push(event{at: w.now + w.cfg.DetectAfter, kind: evDetect, id: int32(i)})
	w.push(event{at: w.now + max(w.cfg.RebootAfter, w.cfg.DetectAfter), kind: evReboot, id: int32(i)})
}

// onDetect: the last will arrives; the scheduler resubmits what it had on the node.
func (w *world) onDetect(i int) {
	n := &w.nodes[i]
	w.lost = w.fleet.Down(i, w.now, w.lost[:0])
	for _, j := range n.orphans {
		w.lost = append(w.lost, j.task.ID)
	}
	clear(n.orphans)
	n.orphans = n.orphans[:0]
	for _, id := range w.lost {
		j := w.jobs[id-1]
		if j.state == jsResult || j.state == jsDone {
			continue // it finished; the news had not reached the scheduler yet
		}
		j.attempt++
		j.task.Remaining = 0 // progress is lost with the node
		j.state = jsWaiting
		if w.holds() {
			j.attempts++
			w.requeue(j) // pending again, for the pass that follows
			continue
		}
		w.submit(j)
	}
	w.slotChanged()
}

// onReboot: the node is back and announces itself.
func (w *world) onReboot(i int) {
	n := &w.nodes[i]
	n.up = true
	n.busySince = w.now
	w.fleet.Revive(i, w.now)
	if c := w.policy.Central; c != nil {
		w.apply(c.NodeUp(w.fleet, i, w.now, w.actions[:0]))
	}
	w.slotChanged()
	w.scheduleCrash(i)
}

// account adds node i's busy core-seconds up to now.
func (w *world) account(i int) {
	n := &w.nodes[i]
	n.busy += float64(len(n.running)) * (w.now - n.busySince)
	n.busySince = w.now
}
