package sim

import (
	"testing"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/place/placetest"
)

// tableWorld builds a shared table case's state (placetest) in a bare world under tether with
// node queue queue: its nodes, and its running tasks bound where the table says — pinned
// there (allowed on that node only, as the live test pins them by a label) when pin — run to
// the case's AfterS. It returns the world and the tasks' names.
func tableWorld(t *testing.T, c placetest.Case, queue int, pin bool) (*world, map[*job]string) {
	var nodes []bareNode
	index := map[string]int{}
	for k, n := range c.Nodes {
		nodes = append(nodes, bareNode{n.ID, n.Cores, n.Speed, n.MemMB})
		index[n.ID] = k
	}
	w := bareWorld(t, "tether", true, nodes...)
	w.cfg.NodeQueue = queue
	names := map[*job]string{}
	for _, r := range c.Running {
		tk := place.Task{Work: r.Work, Checkpointable: r.Checkpointable}
		if r.DeadlineS > 0 {
			tk.Deadline = w.now + r.DeadlineS
		}
		// Bound where the table says: the state, not a placement, is under test.
		i := index[r.Node]
		if pin {
			tk.Allow = func(k int) bool { return k == i }
		}
		j := &job{node: -1, task: tk, scale: 1}
		j.task.ID, j.task.Source = uint64(len(w.jobs)+1), -1
		w.jobs = append(w.jobs, j)
		w.live++
		w.fleet.Assign(i, &j.task, w.now)
		names[j] = r.ID
		j.node = i
		if r.Started {
			w.start(i, j)
		} else {
			j.state = jsQueued
			w.nodes[i].queue = append(w.nodes[i].queue, j)
		}
	}
	w.runUntil(c.AfterS)
	return w, names
}
