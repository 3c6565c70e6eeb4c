package sim

import (
	"math"

	"github.com/tether-edge/tether/broker/place"
)

// onToggle flips device s between active and idle; an active device starts its Poisson
// arrivals, which stop (by generation) when it goes idle or the horizon passes.
func (w *world) onToggle(s int) {
	src := &w.sources[s]
	app := w.apps[src.app]
	src.active = !src.active
	src.gen++
	if w.now >= w.cfg.Horizon {
		return
	}
	if src.active {
		w.push(event{at: w.now + w.exp(w.wl, app.ActiveMean), kind: evToggle, id: int32(s)})
		w.push(event{at: w.now + w.exp(w.wl, app.Interarrival), kind: evArrive, id: int32(s), gen: src.gen})
		return
	}
	w.push(event{at: w.now + w.exp(w.wl, app.IdleMean), kind: evToggle, id: int32(s)})
}

// onArrive creates one task of device s and schedules the device's next one.
func (w *world) onArrive(s int, gen int32) {
	src := &w.sources[s]
	if gen != src.gen || !src.active || w.now >= w.cfg.Horizon {
		return
	}
	app := w.apps[src.app]
	w.push(event{at: w.now + w.exp(w.wl, app.Interarrival), kind: evArrive, id: int32(s), gen: gen})
	j := &job{node: -1, measured: w.now >= w.cfg.Warmup}
	j.task = place.Task{
		ID:             uint64(len(w.jobs) + 1),
		Class:          src.app,
		Work:           max(w.exp(w.wl, app.Work), app.Work/100),
		InBytes:        w.exp(w.wl, app.InBytes),
		OutBytes:       w.exp(w.wl, app.OutBytes),
		Source:         src.node,
		Arrival:        w.now,
		Deadline:       w.now + app.Deadline,
		Priority:       app.Priority,
		MemBytes:       app.MemBytes,
		Checkpointable: app.Checkpointable,
	}
	j.scale = 1
	if w.cfg.WorkError > 0 {
		j.scale = math.Exp(w.cfg.WorkError * w.wl.NormFloat64())
	}
	j.best = w.bestTime(&j.task, j.scale)
	w.jobs = append(w.jobs, j)
	w.live++
	w.submit(j)
}
