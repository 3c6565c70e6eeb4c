package sim

import (
	"math"

	"github.com/tether-edge/tether/broker/place"
)

// submit hands a task (new, resubmitted after a crash) to the policy.
func (w *world) submit(j *job) {
	j.attempts++
	if c := w.policy.Central; c != nil {
		w.apply(c.Submit(w.fleet, &j.task, w.now, w.actions[:0]))
		return
	}
	if w.holds() {
		w.offer(j)
		return
	}
	w.dispatch(j)
}

// dispatch places j with the dispatch policy at once; the task waits in its node's queue.
func (w *world) dispatch(j *job) {
	d := w.policy.Dispatcher.Pick(w.fleet, &j.task, w.now)
	if d.Node < 0 {
		w.reject(j)
	} else {
		w.fleet.Assign(d.Node, &j.task, w.now)
		w.bind(j, d.Node)
	}
}

// misses reports whether placing deadline task t on node i (-1: nowhere) would miss its
// deadline by the estimate the live engine judges it on, when the Tether policy preempts.
func (w *world) misses(t *place.Task, i int) bool {
	if !w.cfg.Preempt || w.cell.Policy != "tether" || t.Deadline <= 0 {
		return false
	}
	return i < 0 || place.Completion(w.fleet, place.Pessimistic{View: w.fleet}, i, t, w.now) > t.Deadline
}

// preemptFor takes back the running task place.TetherVictim names for t and returns its node
// (-1: none) and, when it is to be placed again with its remaining work, the task itself —
// nil when it finished before the scheduler heard, or its node crashed unnoticed (it comes
// back with the node's other tasks when the crash is detected). The caller places t, holds
// the victim (placeHeld) and starts the next task queued on the node (startNext).
func (w *world) preemptFor(t *place.Task) (*job, int) {
	v, ok := place.TetherVictim(w.fleet, t, w.now, nil)
	if !ok {
		return nil, -1
	}
	w.fleet.Removed(v.Node, v.ID, w.now)
	if j := w.jobs[v.ID-1]; w.checkpoint(j, v.Node) {
		return j, v.Node
	}
	return nil, v.Node
}

// apply carries out a central policy's actions. It copies them first: handling one may call
// the policy again, which reuses the action buffer.
func (w *world) apply(acts []place.Action) {
	if len(acts) == 0 {
		return
	}
	buf := append([]place.Action(nil), acts...)
	for _, a := range buf {
		switch a.Kind {
		case place.Bind:
			w.bind(w.jobs[a.Task.ID-1], a.Node)
		case place.Reject:
			w.reject(w.jobs[a.Task.ID-1])
		case place.Preempt:
			w.preempt(w.jobs[a.TaskID-1], a.Node)
		}
	}
}

// bind starts moving j's input to node i, over the true links: the shared WAN uplink to the
// cloud, or its downlink for input kept in the cloud going to an edge node.
func (w *world) bind(j *job, i int) {
	j.node, j.state = i, jsTransfer
	n := &w.nodes[i]
	wait := 0.0
	if w.crossesWAN(j, i) {
		free, bw := &w.link.upFree, w.real.WAN().Up
		if j.task.Source == place.SourceCloud {
			free, bw = &w.link.downFree, w.real.WAN().Down
		}
		start := max(w.now, *free)
		*free = start + j.task.InBytes/bw
		wait = start - w.now
		j.cloudB += j.task.InBytes
	}
	var waits place.WANWaits // the true wait for the downlink is added below: fetchedIn may replace the estimate
	if j.task.Source != place.SourceCloud {
		waits.Up = wait
	}
	in, _ := place.Transfer(w.real, i, &j.task, waits)
	if fin, ok := w.fetchedIn(j, i); ok {
		in = fin
	}
	if j.task.Source == place.SourceCloud {
		in += wait
	}
	if n.up {
		n.pending = append(n.pending, j)
	}
	w.push(event{at: w.now + in, kind: evInput, id: int32(i), gen: n.epoch, job: j})
}

// onInput: j's input reached node i; it queues or starts. On a node that crashed meanwhile
// the task is lost until the crash is detected.
func (w *world) onInput(i int, epoch int32, j *job) {
	n := &w.nodes[i]
	if !n.up || epoch != n.epoch || j.node != i || j.state != jsTransfer {
		return
	}
	n.pending = remove(n.pending, j)
	if len(n.running) < n.prof.Cores {
		w.start(i, j)
		return
	}
	j.state = jsQueued
	n.queue = append(n.queue, j)
}

// jitterClamp bounds a cloud run's speed factor to exp(±jitterClamp × CloudJitter), so the
// clairvoyant bound can use the fastest factor there is.
const jitterClamp = 3

func (w *world) start(i int, j *job) {
	w.account(i)
	n := &w.nodes[i]
	n.running = append(n.running, j)
	j.state = jsRunning
	j.speed = 1
	delay := 0.0
	if n.prof.Tier == place.TierCloud {
		delay = w.cfg.CloudStartup
		if s := w.cfg.CloudJitter; s > 0 {
			j.speed = math.Exp(s * max(-jitterClamp, min(jitterClamp, w.net.NormFloat64())))
		}
	}
	j.left, j.rate, j.since = j.task.Left()*j.scale, w.rate(i, j.task.Class)*j.speed, w.now+delay
	j.gen++
	j.runs++
	j.began = w.now
	w.push(event{at: j.since + j.left/j.rate, kind: evFinish, id: int32(i), gen: j.gen, job: j})
	w.tell(event{kind: evStarted, id: int32(i), gen: j.runs, job: j})
}

// tell delivers a task event to the scheduler: at once without EventDelay or loss, else
// after the delay and a resend for every loss.
func (w *world) tell(e event) {
	d := w.cfg.EventDelay
	for w.cfg.EventLoss > 0 && w.net.Float64() < w.cfg.EventLoss {
		d += w.cfg.EventRetry
	}
	w.told++
	if d == 0 {
		w.handle(e)
		return
	}
	e.at = w.now + d
	w.push(e)
}

// finished: j's finish on node i reached the scheduler, which learns from the run the node
// measured and offers the freed slot to a central policy or to the tasks it holds.
func (w *world) finished(i int, j *job, ran float64) {
	w.fleet.Completed(i, j.task.ID, 0, ran, w.now)
	if c := w.policy.Central; c != nil {
		w.apply(c.SlotFreed(w.fleet, i, w.now, w.actions[:0]))
	}
	w.slotChanged()
}

// onFinish: j completed on node i; its result goes back, the next queued task starts, and a
// central policy gets the freed slot.
func (w *world) onFinish(i int, gen int32, j *job) {
	n := &w.nodes[i]
	if gen != j.gen || j.state != jsRunning || j.node != i {
		return
	}
	w.account(i)
	n.running = remove(n.running, j)
	j.state = jsResult
	wait := 0.0
	if w.crossesWAN(j, i) {
		free, bw := &w.link.downFree, w.real.WAN().Down
		if j.task.Source == place.SourceCloud {
			free, bw = &w.link.upFree, w.real.WAN().Up
		}
		start := max(w.now, *free)
		*free = start + j.task.OutBytes/bw
		wait = start - w.now
		j.cloudB += j.task.OutBytes
	}
	_, out := place.Transfer(w.real, i, &j.task, place.WANWaits{})
	w.push(event{at: w.now + wait + out, kind: evResult, job: j})
	if len(n.queue) > 0 {
		next := n.queue[0]
		n.queue = remove(n.queue, next)
		w.start(i, next)
	}
	w.tell(event{kind: evFinished, id: int32(i), gen: j.runs, job: j, ran: w.now - j.began})
}

func (w *world) onResult(j *job) {
	if j.state != jsResult {
		return
	}
	j.state, j.done = jsDone, w.now
	w.live--
}

func (w *world) reject(j *job) {
	j.state = jsRejected
	w.live--
}

// preempt checkpoints running task j on node i and hands it back to the central policy
// with its remaining work (SRTF).
func (w *world) preempt(j *job, i int) {
	if w.checkpoint(j, i) {
		w.apply(w.policy.Central.Requeue(w.fleet, &j.task, w.now, w.actions[:0]))
		w.startNext(i)
	}
}

// checkpoint stops running task j on node i, keeping its progress in j.task.Remaining; it
// reports whether j is now waiting to be placed again.
// The scheduler has already removed j's record. A task on a node that crashed before the
// scheduler noticed cannot answer: it waits on the node's orphans and is resubmitted, from
// the start, when the crash is detected. A task not running there (it finished; the news
// is on its way) is left alone.
func (w *world) checkpoint(j *job, i int) bool {
	n := &w.nodes[i]
	if j.state == jsLost && j.node == i {
		n.orphans = append(n.orphans, j)
		return false
	}
	if j.state != jsRunning || j.node != i {
		return false
	}
	w.account(i)
	j.left = max(0, j.left-max(0, w.now-j.since)*j.rate)
	n.running = remove(n.running, j)
	j.gen++
	j.task.Remaining = max(j.left/j.scale, 1e-9) // the checkpoint tells the declared share left
	j.state, j.node = jsWaiting, -1
	w.preempted++
	return true
}

// startNext starts the task queued first on node i if a core there is free.
func (w *world) startNext(i int) {
	if n := &w.nodes[i]; len(n.queue) > 0 && len(n.running) < n.prof.Cores {
		next := n.queue[0]
		n.queue = remove(n.queue, next)
		w.start(i, next)
	}
}

// crossesWAN reports whether j's data crosses the WAN to and from node i: the node is in the
// cloud and the input at the site, or the other way round.
func (w *world) crossesWAN(j *job, i int) bool {
	return (w.nodes[i].prof.Tier == place.TierCloud) != (j.task.Source == place.SourceCloud)
}

// remove deletes j from list, keeping order.
func remove(list []*job, j *job) []*job {
	for k, x := range list {
		if x == j {
			copy(list[k:], list[k+1:])
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}
