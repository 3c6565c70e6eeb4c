package sim

import (
	"fmt"
	"sort"
)

// Application classes (place.Task.Class values).
const (
	appAR = iota
	appHealth
	appHeavy
	appInfo
	numApps
)

// App is one application class of the workload, after EdgeCloudSim's applications.xml
// (scripts/sample_app1): each device running it alternates active and idle periods
// (exponential, means ActiveMean and IdleMean) and, while active, submits tasks as a Poisson
// process with mean inter-arrival Interarrival; work and data sizes are exponential around
// their means, as in EdgeCloudSim's load generator.
type App struct {
	Name         string
	Interarrival float64 // s, EdgeCloudSim poisson_interarrival
	ActiveMean   float64 // s, EdgeCloudSim active_period
	IdleMean     float64 // s, EdgeCloudSim idle_period
	Work         float64 // work units: EdgeCloudSim task_length in MI ÷ 1000 MIPS
	InBytes      float64 // EdgeCloudSim data_upload (KB)
	OutBytes     float64 // EdgeCloudSim data_download (KB)
	// WorkDist, InDist and OutDist name the distributions of work and sizes around their
	// means ("" or exponential, lognormal, pareto, fixed), with their coefficients of
	// variation for lognormal and Pareto.
	WorkDist, InDist, OutDist string
	WorkCV, InCV, OutCV       float64
	// Deadline is relative to submission; 0 is none. AR: PureEdgeSim's AUGMENTED_REALITY max_delay (5 s).
	// The others are Tether's choice, 4–7× the task's Pi 4 compute time: health monitoring
	// 3 s, infotainment 5 s, heavy compute 20 s.
	Deadline float64
	MemBytes int64 // working set: AR and heavy compute do not fit a 512 MB Zero 2 W
	Priority int   // AR > health > infotainment > heavy compute
	// Checkpointable: only heavy compute checkpoints (the others are too short to bother).
	Checkpointable bool
}

// Apps returns the application classes, indexed by class.
func Apps() [numApps]App {
	const kb = 1000
	return [numApps]App{
		appAR: {Name: "ar", Interarrival: 5, ActiveMean: 45, IdleMean: 15, Work: 2.0,
			InBytes: 1500 * kb, OutBytes: 25 * kb, Deadline: 5, MemBytes: 1 * gib, Priority: 3},
		appHealth: {Name: "health", Interarrival: 30, ActiveMean: 10, IdleMean: 20, Work: 0.4,
			InBytes: 1250 * kb, OutBytes: 20 * kb, Deadline: 3, MemBytes: 128 * mib, Priority: 2},
		appHeavy: {Name: "heavy", Interarrival: 60, ActiveMean: 60, IdleMean: 60, Work: 3.0,
			InBytes: 2500 * kb, OutBytes: 250 * kb, Deadline: 20, MemBytes: 1 * gib, Priority: 0,
			Checkpointable: true},
		appInfo: {Name: "info", Interarrival: 7, ActiveMean: 15, IdleMean: 45, Work: 0.75,
			InBytes: 25 * kb, OutBytes: 2000 * kb, Deadline: 5, MemBytes: 256 * mib, Priority: 1},
	}
}

// workRate is the mean work per second one device of the app submits.
func (a App) workRate() float64 {
	return a.ActiveMean / (a.ActiveMean + a.IdleMean) * a.Work / a.Interarrival
}

// Mix is a workload: the share of devices running each app (EdgeCloudSim usage_percentage).
type Mix [numApps]float64

// Mixes returns the built-in workload mixes.
//   - ecs: EdgeCloudSim sample_app1's usage percentages (AR 30, health 20, heavy 20,
//     infotainment 30); by work it is dominated by AR.
//   - sensing: many light health-monitoring and infotainment devices (health 50, info 40,
//     AR 10): small tasks with tight deadlines that a Zero 2 W can run.
//   - compute: a batch-heavy site (heavy 60, AR 20, info 20).
func Mixes() map[string]Mix {
	return map[string]Mix{
		"ecs":     {appAR: 30, appHealth: 20, appHeavy: 20, appInfo: 30},
		"sensing": {appAR: 10, appHealth: 50, appHeavy: 0, appInfo: 40},
		"compute": {appAR: 20, appHealth: 0, appHeavy: 60, appInfo: 20},
	}
}

// mixNames returns the sorted names of the built-in mixes.
func mixNames() []string {
	var n []string
	for k := range Mixes() {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// lookupMix returns the named mix.
func lookupMix(name string) (Mix, error) {
	m, ok := Mixes()[name]
	if !ok {
		return Mix{}, fmt.Errorf("unknown mix %q (have %v)", name, mixNames())
	}
	return m, nil
}
