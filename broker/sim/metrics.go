package sim

import "github.com/tether-edge/tether/broker/place"

// Result is what one run measured. Times are seconds from submission to the result being
// back at the task's source; only tasks submitted in [Warmup, Horizon) count.
type Result struct {
	cell
	Tasks      int
	Mean       float64
	P50        float64
	P95        float64
	P99        float64
	Miss       float64 // share done after the deadline, rejected, or never finished
	Offload    float64 // share whose last attempt ran on the cloud tier
	CloudMB    float64 // megabytes over the WAN, both ways, every task
	UtilSpread float64 // standard deviation of edge nodes' utilisation
	// Unstable: the number of tasks in the system grew steadily while tasks arrived, the run
	// diverged (Diverged), or more than unstableWork of the measured work was still unfinished
	// a full horizon after arrivals stopped. One long task left over is a miss and a censored
	// time, not an unbounded queue.
	Unstable bool
	// Diverged: the tasks in the system passed divergeFactor × the fleet's slots and the run
	// was stopped there; its unfinished tasks count as misses with censored times.
	Diverged bool
	// UnfinishedWork is the share of the measured tasks' work not finished when the run ended.
	UnfinishedWork float64
	// Bound is the clairvoyant lower bound over the same tasks (see bound.go).
	Bound Bound
	// ClassTasks and ClassMiss are, per task class, the measured tasks and the share of them
	// missed (as Miss).
	ClassTasks []int
	ClassMiss  []float64
	Rejected   int
	Unfinished int
	Preempted  int
	Crashes    int
	Events     int
}

// measure computes the run's Result from the final world state.
func (w *world) measure() Result {
	r := Result{cell: w.cell, Preempted: w.preempted, Events: w.events,
		ClassTasks: make([]int, len(w.apps)), ClassMiss: make([]float64, len(w.apps))}
	var times []float64
	missed, cloud := 0, 0
	work, unfinished := 0.0, 0.0
	for _, j := range w.jobs {
		r.CloudMB += j.cloudB / 1e6
		if !j.measured {
			continue
		}
		r.Tasks++
		r.ClassTasks[j.task.Class]++
		before := missed
		work += j.task.Work
		switch j.state {
		case jsDone:
			times = append(times, j.done-j.task.Arrival)
			if j.late() {
				missed++
			}
			if j.node >= 0 && w.nodes[j.node].prof.Tier == place.TierCloud {
				cloud++
			}
		case jsRejected:
			r.Rejected++
			missed++
		default:
			r.Unfinished++
			unfinished += w.leftOf(j)
			missed++
			times = append(times, w.now-j.task.Arrival) // censored
		}
		if missed > before {
			r.ClassMiss[j.task.Class]++
		}
	}
	s := sorted(times)
	r.Mean, r.P50, r.P95, r.P99 = mean(s), quantile(s, 0.5), quantile(s, 0.95), quantile(s, 0.99)
	if r.Tasks > 0 {
		r.Miss = float64(missed) / float64(r.Tasks)
		r.Offload = float64(cloud) / float64(r.Tasks)
	}
	var utils []float64
	slots := 0
	for i := range w.nodes {
		n := &w.nodes[i]
		r.Crashes += n.crashes
		slots += n.prof.Cores
		if n.prof.Tier == place.TierEdge && w.now > 0 {
			utils = append(utils, n.busy/(float64(n.prof.Cores)*w.now))
		}
	}
	r.UtilSpread = stddev(utils)
	if work > 0 {
		r.UnfinishedWork = unfinished / work
	}
	for c, n := range r.ClassTasks {
		if n > 0 {
			r.ClassMiss[c] /= float64(n)
		}
	}
	r.Diverged = w.diverged
	r.Unstable = r.Diverged || r.UnfinishedWork > unstableWork || w.growing(slots)
	r.Bound = w.bound()
	return r
}

// unstableWork is the share of measured work that may be left unfinished a full horizon after
// arrivals stopped before a run counts as unstable: a handful of long tasks on a fleet of
// thousands is a tail, a percent of all work is a backlog.
const unstableWork = 0.01

// late reports whether j, done, finished after its deadline; a task without one never does.
func (j *job) late() bool { return j.task.Deadline > 0 && j.done > j.task.Deadline }

// leftOf is the work j still has to do now: its remaining work if it runs or was
// checkpointed, else all of it.
func (w *world) leftOf(j *job) float64 {
	if j.state == jsRunning {
		return max(0, j.left-max(0, w.now-j.since)*j.rate) / j.scale
	}
	return j.task.Left()
}

// growing reports whether the tasks in the system trend upward over the measured arrivals by
// more than twice the fleet's slots and more than half their mean: a queue without bound,
// not a slow one.
func (w *world) growing(slots int) bool {
	var xs, ys []float64
	for _, p := range w.probes {
		if p.at >= w.cfg.Warmup {
			xs = append(xs, p.at)
			ys = append(ys, float64(p.n))
		}
	}
	if len(xs) < 3 {
		return false
	}
	growth := slope(xs, ys) * (xs[len(xs)-1] - xs[0])
	return growth > 2*float64(slots) && growth > mean(ys)/2
}
