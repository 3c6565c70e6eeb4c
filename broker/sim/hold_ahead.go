package sim

import "github.com/tether-edge/tether/broker/place"

// Three changes to the held Tether (hold.go), each behind a flag and in the simulator only:
// the live scheduler does none of them yet (docs/scheduling.md, "Tether's node queue", says
// what it needs). All keep the admission contract: no node is assigned more than its free
// slots.
//
// Config.HoldPrefetch: after every pass the scheduler hints held tasks, in the pass's order,
// to the edge node the cost model expects each to take (place.PickAll over the edge nodes,
// busy ones included), at most as many hints a node as it has slots; the node fetches the
// input at once while the task stays pending, unassigned. A pass first offers the held tasks
// whose hinted node has room, and the cost model sees their input there (place.Task.Fetched),
// so a freed slot mostly goes to a task whose input is already on the node: the slot does
// not idle while the input travels. A hint not taken up costs its transfer only. Input kept
// in the cloud is not hinted (it would cross the WAN). Like the node queue, the simulator
// moves every hinted input at once over an uncontended link.
//
// Config.HoldWait: a free edge slot where a deadline task would be late is not taken when a
// busy edge node would get it done in time: the task waits at the scheduler for that slot
// (and, with HoldPrefetch, its input goes there meanwhile). The free slot stays for others.
//
// Config.HoldCloudPick: the WAN uplink, not the cloud's cores, bounds what the cloud takes
// off a full edge, and the held tasks first in order (by priority) are not the ones that
// relieve the edge most per WAN byte. So a pass gives free cloud slots, while the WAN uplink
// the scheduler booked frees within holdCloudBacklog, to the held task with the most work per
// byte moved over the WAN (input and result, unless they live in the cloud: wanBytes) whose
// cloud completion meets its deadline (place.Pessimistic), before it offers the rest.
// Otherwise a task takes a cloud slot only when nothing is held and the uplink is as free:
// the cost model's choice at a quiet time. A cloud choice it declines is not refunded to
// Tether's cloud budget, so Config.Validate refuses it with one.

// waitForBusy is Config.HoldWait's rule: a decision d for a free edge slot where t would miss
// its deadline is declined (NoNode: t stays held) when the cost model's best edge node, busy
// ones included, is a busy node where t, waiting for its slot, would meet it. With
// HoldPrefetch the held task is then hinted to that node, and offered first when it frees.
func (w *world) waitForBusy(t *place.Task, d place.Decision) place.Decision {
	if !w.cfg.HoldWait || t.Deadline <= 0 || d.Node < 0 || d.Est <= t.Deadline ||
		w.fleet.Node(d.Node).Tier != place.TierEdge {
		return d
	}
	allow := t.Allow
	t.Allow = func(i int) bool { return w.fleet.Node(i).Tier == place.TierEdge && (allow == nil || allow(i)) }
	e := place.PickAll(w.fleet, w.policy.Dispatcher, t, w.now)
	t.Allow = allow
	if e.Node >= 0 && e.Node != d.Node && w.fleet.FreeSlots(e.Node) == 0 && e.Est <= t.Deadline {
		return place.NoNode()
	}
	return d
}

// holdCloudBacklog is how far ahead (s) the WAN uplink may be booked for a held task to be
// given a cloud slot: about one large input (1.5 MB at 20 Mbit/s is 0.6 s), so the uplink
// stays busy without a queue that makes every cloud task late. Chosen by measurement: 0 and
// 0.25 s gave the same stability on ecs at load 0.9.
const holdCloudBacklog = 0.5

// edgeUnlessQuiet is Config.HoldCloudPick's rule for a cloud slot outside the cloud stage: a
// decision d for the cloud stands only when no task is held and the WAN uplink frees within
// holdCloudBacklog; otherwise the choice is made again over the edge nodes (NoNode: none).
func (w *world) edgeUnlessQuiet(t *place.Task, d place.Decision) place.Decision {
	if !w.cfg.HoldCloudPick || d.Node < 0 || w.fleet.Node(d.Node).Tier != place.TierCloud {
		return d
	}
	if len(w.held) == 0 && w.fleet.WANUpFreeAt(w.now) <= w.now+holdCloudBacklog {
		return d
	}
	return w.pickWhere(t, func(i int) bool { return w.fleet.Node(i).Tier == place.TierEdge })
}

// pickWhere is place.PickFree among the nodes also in, with t's own constraint kept.
func (w *world) pickWhere(t *place.Task, in func(int) bool) place.Decision {
	allow := t.Allow
	defer func() { t.Allow = allow }()
	t.Allow = func(i int) bool { return in(i) && (allow == nil || allow(i)) }
	return place.PickFree(w.fleet, w.policy.Dispatcher, t, w.cfg.NodeQueue, w.now)
}

// cloudStage gives free cloud slots to held tasks (Config.HoldCloudPick), counting each off
// free. O(held × cloud nodes) per slot given.
func (w *world) cloudStage(free *int) {
	for *free > 0 && w.fleet.WANUpFreeAt(w.now) <= w.now+holdCloudBacklog {
		best, bestV := -1, 0.0
		for k, j := range w.held {
			t := &j.task
			i := w.cloudRoom(t)
			if i < 0 || t.Deadline > 0 && place.Completion(w.fleet, place.Pessimistic{View: w.fleet}, i, t, w.now) > t.Deadline {
				continue
			}
			if v := t.Left() / (wanBytes(t) + 1); best < 0 || v > bestV {
				best, bestV = k, v
			}
		}
		if best < 0 {
			return
		}
		j := w.held[best]
		d := w.pickWhere(&j.task, func(i int) bool { return w.fleet.Node(i).Tier == place.TierCloud })
		if d.Node < 0 {
			return // the cloud budget is spent
		}
		w.unhold(best)
		w.fleet.Assign(d.Node, &j.task, w.now)
		w.bind(j, d.Node)
		*free--
	}
}

// cloudRoom returns the first up cloud node with room that fits t, or -1.
func (w *world) cloudRoom(t *place.Task) int {
	for _, i := range w.fleet.Cloud() {
		n := w.fleet.Node(i)
		if w.fleet.Room(i, w.cfg.NodeQueue) > 0 && t.Tiers.Allows(n.Tier) && t.MemBytes <= n.MemBytes &&
			(t.Allow == nil || t.Allow(i)) {
			return i
		}
	}
	return -1
}

// hintedFirst offers the held tasks whose hinted node has room (Config.HoldPrefetch), in
// order, counting each placed off free.
func (w *world) hintedFirst(free, searches *int) {
	for k := 0; k < len(w.held) && *free > 0; {
		j := w.held[k]
		if j.hint == 0 || w.fleet.Room(j.hint-1, w.cfg.NodeQueue) == 0 || !w.placeHeld(j, searches) {
			k++
			continue
		}
		w.unhold(k)
		*free--
	}
}

// prefetch hints the held tasks without a hint, in order, to the edge node the cost model
// expects each to take, while some up edge node has fewer hints than slots.
func (w *world) prefetch() {
	if w.hints == nil {
		w.hints = make([]int, len(w.nodes))
	}
	left := 0
	for _, i := range w.fleet.Edge() {
		if w.fleet.Up(i) {
			left += max(0, w.fleet.Node(i).Cores-w.hints[i])
		}
	}
	for _, j := range w.held {
		if left == 0 {
			return
		}
		if j.hint > 0 {
			if w.fleet.Up(j.hint - 1) {
				continue
			}
			w.unhint(j)
		}
		t := &j.task
		if t.Source == place.SourceCloud {
			continue
		}
		allow := t.Allow
		t.Allow = func(i int) bool {
			return w.fleet.Node(i).Tier == place.TierEdge && w.hints[i] < w.fleet.Node(i).Cores && (allow == nil || allow(i))
		}
		d := place.PickAll(w.fleet, w.policy.Dispatcher, t, w.now)
		t.Allow = allow
		if d.Node < 0 {
			continue
		}
		in, _ := place.Transfer(w.real, d.Node, t, place.WANWaits{})
		j.hint, j.fetched, j.fetchEpoch = d.Node+1, w.now+in, w.nodes[d.Node].epoch
		t.Fetched = j.hint
		w.hints[d.Node]++
		left--
	}
}

// unhint drops j's hint.
func (w *world) unhint(j *job) {
	w.hints[j.hint-1]--
	j.hint, j.task.Fetched = 0, 0
}

// fetchedIn returns how long j's input takes to reach node i, bound there now, when it was
// hinted there (ok false: it was not, or the node lost it in a crash); it drops the hint.
func (w *world) fetchedIn(j *job, i int) (in float64, ok bool) {
	if j.hint == 0 {
		return 0, false
	}
	ok = j.hint == i+1 && j.fetchEpoch == w.nodes[i].epoch
	w.unhint(j)
	return max(j.fetched-w.now, w.real.Node(i).RTT), ok
}

// wanBytes is what t moves over the WAN when it runs in the cloud: its input and result,
// unless they live there.
func wanBytes(t *place.Task) float64 {
	if t.Source == place.SourceCloud {
		return 0
	}
	return t.InBytes + t.OutBytes
}
