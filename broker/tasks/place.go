package tasks

import "github.com/tether-edge/tether/pkg/task"

// Placer chooses the node for a task among the online nodes with facts,
// or nil when none will do (the task stays pending and is tried again
// when the fleet or the load changes). It is the seam for the placement
// policies of broker/place: LeastWork is the scheduler's own simple one.
// Place is called from the engine's goroutine and must not keep nodes.
type Placer interface {
	Place(r *Request, nodes []*Candidate) *Candidate
}

// Request is a task to place.
type Request struct {
	Task string
	Spec *task.Spec // read-only
	// Work is the estimated work left (Spec.Work, 1 when unknown, less the
	// checkpoint it resumes from).
	Work float64
	// Avoid is a node an earlier attempt was taken from (no
	// acknowledgement, refused): any other node that fits is preferred.
	Avoid string

	labels [][2]string // Spec.Constraints.Labels as pairs, made by Fits once
}

// labelPairs returns the label constraints as a slice: ranging over a
// map for each of a thousand nodes costs more than the rest of Fits.
func (r *Request) labelPairs() [][2]string {
	if r.labels == nil && len(r.Spec.Constraints.Labels) > 0 {
		r.labels = make([][2]string, 0, len(r.Spec.Constraints.Labels))
		for k, v := range r.Spec.Constraints.Labels {
			r.labels = append(r.labels, [2]string{k, v})
		}
	}
	return r.labels
}

// Fits reports whether node n can take r: its tier and labels match the
// task's constraints, and its cores (×1000 millicores) and memory less what
// the scheduler's unfinished tasks there requested cover r's request.
func Fits(r *Request, n *Candidate) bool {
	s := r.Spec
	if tier := s.Constraints.Tier; tier != "" && tier != task.TierAny && tier != n.Tier {
		return false
	}
	if c := s.Resources.CPUMillis; c > 0 && c > int64(n.Cores)*1000-n.CPUMillis {
		return false
	}
	if m := s.Resources.MemMB; m > 0 && m<<20 > n.MemTotal-n.MemBytes {
		return false
	}
	for _, kv := range r.labelPairs() {
		if got, ok := n.Labels[kv[0]]; !ok || got != kv[1] {
			return false
		}
	}
	return true
}

// LeastWork places a task on the fitting node with the least outstanding
// work by the scheduler's own records; ties go to the node with fewer
// tasks, then to the lower id. The node to avoid is taken only when no
// other fits. O(nodes) per decision, no allocation.
//
// broker/place's least-work policy is the same idea over its own fleet
// model (dense node indices, one slot per core, no labels or millicores);
// an adapter to it belongs with the placement policies.
type LeastWork struct{}

var _ Placer = LeastWork{}

// Place implements Placer.
func (LeastWork) Place(r *Request, nodes []*Candidate) *Candidate {
	var best, avoided *Candidate
	for _, n := range nodes {
		if !Fits(r, n) {
			continue
		}
		if n.ID == r.Avoid {
			avoided = n
			continue
		}
		if best == nil || n.Outstanding < best.Outstanding ||
			n.Outstanding == best.Outstanding && n.Tasks < best.Tasks {
			best = n // nodes come sorted by id: the first of equals stays
		}
	}
	if best == nil {
		return avoided
	}
	return best
}
