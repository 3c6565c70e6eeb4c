package live

import (
	"strconv"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/place/placetest"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// TestVictimTable: the live Placer names the victim the shared table expects, the one the
// simulator's tether names for the same state (broker/sim's TestVictimTable).
func TestVictimTable(t *testing.T) {
	for _, c := range placetest.Load(t, "tether_victims.json") {
		t.Run(c.Name, func(t *testing.T) {
			g := newRig(t)
			for _, n := range c.Nodes {
				speed := strconv.FormatFloat(n.Speed, 'g', -1, 64)
				g.node(n.ID, protocol.TierEdge, n.Cores, func(tn *taskengine.NodeState) {
					tn.MemTotal = n.MemMB << 20
					tn.Labels = map[string]string{LabelSpeed: speed}
				})
			}
			for _, r := range c.Running {
				s := sleepTask(r.ID, r.Work, 0, seconds(r.DeadlineS))
				s.Checkpointable = r.Checkpointable
				req := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
				cand := g.nodes[r.Node]
				cand.Outstanding += r.Work
				cand.Tasks++
				g.on[s.ID], g.reqs[s.ID] = cand, req
				g.p.AttemptAssigned(taskengine.Attempt{Task: s.ID, Attempt: 1, Node: r.Node, Request: req})
				if r.Started {
					g.running(r.ID)
				}
			}
			g.advance(seconds(c.AfterS))
			s := sleepTask("urgent", c.Task.Work, 0, seconds(c.Task.DeadlineS))
			s.Resources.MemMB = c.Task.MemMB
			if c.Task.Tier == "cloud" {
				s.Constraints.Tier = task.TierCloud
			}
			id, _, ok := g.p.Victim(&taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}, g.cands())
			if !ok {
				id = ""
			}
			if id != c.Victim {
				t.Errorf("victim %q, want %q", id, c.Victim)
			}
		})
	}
}
