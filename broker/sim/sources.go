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
		w.push(event{at: w.now + w.exp(w.wl, app.Interarrival/w.peak), kind: evArrive, id: int32(s), gen: src.gen})
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
	w.push(event{at: w.now + w.exp(w.wl, app.Interarrival/w.peak), kind: evArrive, id: int32(s), gen: gen})
	if w.peak > 1 && w.wl.Float64()*w.peak >= w.rateNow() {
		return // thinned: the site-wide rate is below its peak now
	}
	j := &job{node: -1, measured: w.now >= w.cfg.Warmup}
	source := src.node
	if w.site.InputCloud[src.app] {
		source = place.SourceCloud
	}
	deadline := 0.0
	if app.Deadline > 0 {
		deadline = w.now + app.Deadline
	}
	j.task = place.Task{
		ID:             uint64(len(w.jobs) + 1),
		Class:          src.app,
		Work:           max(w.draw(app.WorkDist, app.Work, app.WorkCV), app.Work/100),
		InBytes:        w.draw(app.InDist, app.InBytes, app.InCV),
		OutBytes:       w.draw(app.OutDist, app.OutBytes, app.OutCV),
		Source:         source,
		Arrival:        w.now,
		Deadline:       deadline,
		Priority:       app.Priority,
		MemBytes:       app.MemBytes,
		Checkpointable: app.Checkpointable,
	}
	j.scale = 1
	if w.cfg.WorkError > 0 {
		j.scale = math.Exp(w.cfg.WorkError * w.wl.NormFloat64())
	}
	if b := w.cfg.WorkBias; b > 0 && b != 1 {
		j.task.Work *= b // declared; the true work, Work × scale, stays
		j.scale /= b
	}
	j.best = w.bestTime(&j.task, j.scale)
	w.jobs = append(w.jobs, j)
	w.live++
	w.submit(j)
}

// draw returns a variate of the named distribution with the given mean (and coefficient of
// variation for lognormal and Pareto) from the workload stream.
func (w *world) draw(dist string, mean, cv float64) float64 {
	switch dist {
	case "fixed":
		return mean
	case "lognormal":
		s2 := math.Log1p(cv * cv)
		return math.Exp(math.Log(mean) - s2/2 + math.Sqrt(s2)*w.wl.NormFloat64())
	case "pareto":
		// cv² = 1/(α(α−2)) for α > 2; the scale keeps the mean.
		a := 1 + math.Sqrt(1+1/(cv*cv))
		return mean * (a - 1) / a / math.Pow(1-w.wl.Float64(), 1/a)
	}
	return w.exp(w.wl, mean)
}

// Site-wide arrival modulation (ArrivalSpec): every device draws arrivals at the peak rate
// and keeps each with probability rateNow ÷ peak (thinning), so the mean rate — and the
// offered load — is unchanged.

// setupArrivals computes the peak multiplier and schedules the first burst switch.
func (w *world) setupArrivals() {
	a := &w.site.Arrivals
	w.peak, w.calm = 1, 1
	switch a.Kind {
	case "bursty":
		on := a.BurstMean / (a.BurstMean + a.CalmMean)
		w.calm = 1 / (on*a.BurstFactor + 1 - on)
		w.peak = a.BurstFactor * w.calm
		w.push(event{at: w.exp(w.wl, a.CalmMean), kind: evBurst})
	case "diurnal":
		w.peak = 1 + a.Amplitude
	}
}

// rateNow is the site's arrival-rate multiplier now (mean 1).
func (w *world) rateNow() float64 {
	a := &w.site.Arrivals
	switch a.Kind {
	case "bursty":
		if w.burst {
			return w.peak
		}
		return w.calm
	case "diurnal":
		return 1 + a.Amplitude*math.Sin(2*math.Pi*w.now/a.Period)
	}
	return 1
}

// onBurst switches between burst and calm.
func (w *world) onBurst() {
	w.burst = !w.burst
	w.switches = append(w.switches, w.now)
	mean := w.site.Arrivals.CalmMean
	if w.burst {
		mean = w.site.Arrivals.BurstMean
	}
	if w.now < w.cfg.Horizon {
		w.push(event{at: w.now + w.exp(w.wl, mean), kind: evBurst})
	}
}
