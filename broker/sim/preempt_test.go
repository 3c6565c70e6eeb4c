package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/place/placetest"
)

// bareWorld is a world of edge nodes with no devices, no background load, no crashes,
// no telemetry and task events at once: the test submits every task (bareWorld.add).
// Each node is a Pi 4 of the given cores, speed per core and memory, every class at that
// speed, on the live scheduler's default LAN (2 ms, 100 Mbit/s).
func bareWorld(t *testing.T, policy string, preempt bool, nodes ...bareNode) *world {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Crashes, cfg.EventDelay, cfg.WorkError, cfg.CloudJitter = false, 0, 0, 0
	cfg.Horizon, cfg.Preempt = 1000, preempt
	c := cell{Mix: "bare", Load: 1, Stale: 0, Policy: policy, Seed: 1}
	apps := Apps()
	w := &world{cfg: &cfg, cell: c, apps: apps[:], site: &Site{Name: "bare"}, cloud: -1,
		wl: stream(1, 1, c), dyn: stream(1, 2, c), net: stream(1, 4, c), divergeAt: math.MaxInt}
	wan := place.Link{RTT: 0.06, Up: 20 * mbps, Down: 20 * mbps}
	w.fleet = place.NewView(wan, place.ViewOptions{})
	w.real = place.NewView(wan, place.ViewOptions{})
	for _, n := range nodes {
		p := Profiles()["pi4"]
		p.Cores, p.Speed, p.MemBytes = n.cores, n.speed, n.memMB*mib
		p.RTT, p.Bandwidth, p.ThrottleEvery, p.UndervoltProb = 0.002, 100*mbps, 0, 0
		for k := range p.ClassFactor {
			p.ClassFactor[k] = 1
		}
		w.addNode(p, n.id)
	}
	w.ev = w.ev[:0] // no samples, no background load: the nodes run at their declared speed
	pol, err := place.NewRegistry().New(policy, place.Env{Rand: rand.New(rand.NewPCG(1, 2)), Truth: truth{w}})
	if err != nil {
		t.Fatal(err)
	}
	w.policy = pol
	return w
}

type bareNode struct {
	id    string
	cores int
	speed float64
	memMB int64
}

// add submits a task now, its data at the site.
func (w *world) add(tk place.Task) *job {
	j := &job{node: -1, task: tk, scale: 1, measured: true}
	j.task.ID, j.task.Arrival, j.task.Source = uint64(len(w.jobs)+1), w.now, -1
	w.jobs = append(w.jobs, j)
	w.live++
	w.submit(j)
	return j
}

// runUntil handles every event up to at and leaves the clock there.
func (w *world) runUntil(at float64) {
	for len(w.ev) > 0 && w.ev[0].at <= at {
		e := w.ev.pop()
		w.now = e.at
		w.handle(e)
	}
	w.now = at
}

// TestVictimTable: the simulator's tether names the victim the shared table expects, the
// one the live Placer names for the same state (place/live's TestVictimTable). A victim
// checkpoints: it waits to be placed again with its work left.
func TestVictimTable(t *testing.T) {
	for _, c := range placetest.Load(t, "tether_victims.json") {
		t.Run(c.Name, func(t *testing.T) {
			w, names := tableWorld(t, c, 0, false)
			tk := place.Task{ID: uint64(len(w.jobs) + 1), Work: c.Task.Work, Source: -1, MemBytes: c.Task.MemMB * mib}
			if c.Task.DeadlineS > 0 {
				tk.Deadline = w.now + c.Task.DeadlineS
			}
			if c.Task.Tier == "cloud" {
				tk.Tiers = place.MaskOf(place.TierCloud)
			}
			v, at := w.preemptFor(&tk)
			got := names[v]
			if got != c.Victim {
				t.Fatalf("victim %q, want %q", got, c.Victim)
			}
			if v == nil {
				if at >= 0 || w.preempted != 0 {
					t.Errorf("no victim, yet node %d, %d preempted", at, w.preempted)
				}
				return
			}
			want := v.task.Work - c.AfterS*w.nodes[at].prof.Speed
			if v.state != jsWaiting || v.node != -1 || math.Abs(v.task.Remaining-want) > 1e-6 || w.fleet.Assigned(at) != len(w.nodes[at].running) {
				t.Errorf("victim state %d on %d with %.3f left (want %.3f), node %d keeps %d records for %d running",
					v.state, v.node, v.task.Remaining, want, at, w.fleet.Assigned(at), len(w.nodes[at].running))
			}
		})
	}
}

// TestTetherPreemptsForADeadline: on one single-core node busy with 100 s of checkpointable
// work, a 5 s task due in 10 s would wait behind it and miss. With Preempt, tether takes the
// long task back, the urgent one meets its deadline, and the long one resumes from its
// checkpoint and finishes about 5 s later than alone — not from the start, and not lost.
// Without Preempt, or under another policy, the urgent task misses. Nothing preempts a task
// that cannot checkpoint or has a deadline of its own.
func TestTetherPreemptsForADeadline(t *testing.T) {
	for _, c := range []struct {
		name           string
		policy         string
		preempt        bool
		checkpointable bool
		longDue        float64 // s; 0: none
		wantPreempt    bool
	}{
		{"tether preempts", "tether", true, true, 0, true},
		{"preemption off", "tether", false, true, 0, false},
		{"not checkpointable", "tether", true, false, 0, false},
		{"the long task has a deadline", "tether", true, true, 500, false},
		{"another policy keeps its algorithm", "least-work", true, true, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := bareWorld(t, c.policy, c.preempt, bareNode{"pi", 1, 1, 4096})
			lt := place.Task{Work: 100, Checkpointable: c.checkpointable}
			if c.longDue > 0 {
				lt.Deadline = c.longDue
			}
			long := w.add(lt)
			w.runUntil(5)
			urgent := w.add(place.Task{Work: 5, Deadline: 15})
			if err := w.simulate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if long.state != jsDone || urgent.state != jsDone {
				t.Fatalf("long %d, urgent %d: want both done (%d)", long.state, urgent.state, jsDone)
			}
			t.Logf("urgent done at %.2f s (due 15), long at %.2f s, %d preempted", urgent.done, long.done, w.preempted)
			if !c.wantPreempt {
				if w.preempted != 0 || !urgent.late() {
					t.Errorf("%d preempted, urgent done at %.2f s: want none preempted and the deadline missed", w.preempted, urgent.done)
				}
				return
			}
			if w.preempted != 1 || urgent.late() {
				t.Errorf("%d preempted, urgent done at %.2f s (due 15): want 1 and the deadline met", w.preempted, urgent.done)
			}
			// Alone the long task is back at about 100 s; yielding 5 s to the urgent one it is
			// back at about 105 s, where a restart from scratch would be about 110 s.
			if long.done < 104.9 || long.done > 106 {
				t.Errorf("long task done at %.2f s, want about 105 s (resumed from its checkpoint)", long.done)
			}
		})
	}
}

// TestTetherPreemptingOnCrashedNodesLosesNothing is TestPreemptingOnACrashedNodeLosesNothing
// for tether's preemption, on the retail scenario (checkpointable analytics without a
// deadline) at load 0.7, where tether preempts: every edge node crashes in turn, and a
// victim on a node that crashed unnoticed must come back when the crash is detected.
func TestTetherPreemptingOnCrashedNodesLosesNothing(t *testing.T) {
	cfg := DefaultConfig()
	if err := LoadScenario("scenarios/retail.yaml", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Crashes = false // the crashes below are the only ones
	cfg.DetectAfter, cfg.RebootAfter = 40, 60
	preempted := 0
	for _, seed := range []uint64{1, 2, 3} {
		w, err := newWorld(&cfg, cell{Mix: cfg.Site.Name, Load: 0.7, Stale: 2, Policy: "tether", Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		w.divergeAt = math.MaxInt
		for _, i := range w.fleet.Edge() {
			w.push(event{at: 20 + 8*float64(i), kind: evCrash, id: int32(i)})
		}
		if err := w.simulate(context.Background()); err != nil {
			t.Fatal(err)
		}
		lost := 0
		for _, j := range w.jobs {
			if j.state == jsLost {
				lost++
			}
		}
		t.Logf("seed %d: %d tasks, %d preemptions, %d lost after every crash was detected", seed, len(w.jobs), w.preempted, lost)
		if lost > 0 {
			t.Errorf("seed %d: %d tasks lost for good", seed, lost)
		}
		preempted += w.preempted
	}
	if preempted == 0 {
		t.Error("tether preempted nothing: the test checks nothing")
	}
}
