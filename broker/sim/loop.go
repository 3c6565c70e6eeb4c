package sim

import (
	"context"
	"fmt"
)

// probeEvery is the spacing of the in-system task counts used to detect an unstable queue.
const probeEvery = 5.0

// divergeFactor bounds the tasks in the system, in multiples of the fleet's slots, beyond
// which a run is stopped as diverged. A stable policy at load 0.9 keeps a few times the
// slots in the system (Little's law with times a few service times long); a queue ten times
// the fleet's slots grows without bound, and simulating it to the end made one unstable run
// take minutes, as every queue operation grows with it.
const divergeFactor = 10

// simulate runs one cell to the end: arrivals until the horizon, then a drain of at most
// another horizon. It checks ctx every few thousand events.
func (w *world) simulate(ctx context.Context) error {
	limit := 2 * w.cfg.Horizon
	for len(w.ev) > 0 {
		e := w.ev.pop()
		if e.at > limit || (e.at > w.cfg.Horizon && w.live == 0 && w.told == 0) || w.diverged {
			break
		}
		w.now = e.at
		w.events++
		if w.events%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		w.handle(e)
	}
	for i := range w.nodes {
		w.account(i)
	}
	return nil
}

func (w *world) handle(e event) {
	i := int(e.id)
	switch e.kind {
	case evToggle:
		w.onToggle(i)
	case evArrive:
		w.onArrive(i, e.gen)
	case evInput:
		w.onInput(i, e.gen, e.job)
	case evFinish:
		w.onFinish(i, e.gen, e.job)
	case evResult:
		w.onResult(e.job)
	case evSample:
		w.onSample(i)
	case evDeliver:
		w.fleet.Deliver(i, e.rep, w.now)
	case evBg:
		w.onBg(i)
	case evThrottle:
		w.onThrottle(i)
	case evCrash:
		if w.nodes[i].up {
			w.onCrash(i)
		}
	case evDetect:
		w.onDetect(i)
	case evReboot:
		w.onReboot(i)
	case evStarted:
		w.told--
		if j := e.job; j.node == i && j.runs == e.gen {
			w.fleet.Started(i, j.task.ID, w.now)
		}
	case evFinished:
		w.told--
		w.finished(i, e.job, e.ran)
	case evBurst:
		w.onBurst()
	case evTick:
		w.onTick()
	case evProbe:
		w.probes = append(w.probes, probe{at: w.now, n: w.live})
		if w.live > w.divergeAt {
			w.diverged = true
			return
		}
		if w.now+probeEvery <= w.cfg.Horizon {
			w.push(event{at: w.now + probeEvery, kind: evProbe})
		}
	default:
		panic(fmt.Sprintf("sim: unknown event kind %d", e.kind))
	}
}
