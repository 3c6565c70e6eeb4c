package sim

import "github.com/tether-edge/tether/broker/place"

// Profile is a hardware model. Speeds are per core in work units per second, where 1 unit is
// one second of a Raspberry Pi 4 core (Cortex-A72, 1.5 GHz), about the 1000 MIPS of an
// EdgeCloudSim edge-VM core.
type Profile struct {
	Name     string
	Tier     place.Tier
	Cores    int
	Speed    float64 // declared speed per core
	MemBytes int64
	// ClassFactor multiplies Speed per application class (indexed like Apps): the true speed
	// differs by workload (memory-bound work suffers more on the Zero's 512 MB LPDDR2).
	// The scheduler is told Speed only; it must learn the factors.
	ClassFactor [place.MaxClasses]float64
	RTT         float64 // seconds, to the site (LAN), true
	Bandwidth   float64 // bytes per second, to the site (LAN), true
	// DeclaredRTT and DeclaredBandwidth are the LAN path the scheduler is told (0: the true
	// values).
	DeclaredRTT, DeclaredBandwidth float64
	// ThrottleEvery is the mean seconds between thermal-throttling episodes (0: never);
	// ThrottleFor their mean length; ThrottleSpeed the speed factor while throttled.
	ThrottleEvery, ThrottleFor, ThrottleSpeed float64
	// UndervoltProb is the share of nodes of this model on a weak supply: they run at
	// UndervoltSpeed and crash UndervoltCrash times as often.
	UndervoltProb, UndervoltSpeed, UndervoltCrash float64
	// MTBF is the mean seconds between crashes (brown-outs, SD-card hangs); 0 never crashes.
	MTBF float64
	// Price per core-second (cloud only).
	Price float64
}

const (
	mib = 1 << 20
	gib = 1 << 30
	// mbps converts megabits per second to bytes per second.
	mbps = 1e6 / 8
)

// Profiles returns the built-in hardware models, keyed by name.
//
// Speeds: relative single-core throughput, Pi 4 = 1 (Cortex-A72 @1.5 GHz); Pi Zero 2 W
// (Cortex-A53 @1 GHz, in-order) ≈ 0.4; Pi 5 (Cortex-A76 @2.4 GHz) ≈ 2.0, in line with the
// Raspberry Pi Foundation's "2–3× Pi 4" CPU claim; a current x86 cloud vCPU ≈ 2.4, so the
// fleet spans the ~6× the issue names. Memory: the boards' RAM (Zero 2 W 512 MB; Pi 4 and Pi 5
// 4 GB and 8 GB variants as deployed). LAN: Zero 2 W on 2.4 GHz Wi-Fi (~30 Mbit/s usable,
// ~5 ms RTT), Pi 4/5 on gigabit Ethernet (~900 Mbit/s, ~0.5 ms). Throttling: Pi 4/5 without
// active cooling throttle from 1.5 to ~0.9–1.0 GHz (factor 0.6) under sustained load; an
// episode every ~10 min lasting ~2 min is Tether's assumption for a passively cooled fleet.
// Undervoltage: "lightning bolt" boards on weak supplies cap the clock (factor 0.5) and
// brown out; 10 % of Zeros and 5 % of Pi 4/5 is Tether's assumption. MTBF 4 h for edge nodes
// (SD-card and supply faults in field fleets), crash rate ×10 when undervolted.
// Cloud price: $0.05 per vCPU-hour, a typical on-demand x86 rate.
func Profiles() map[string]Profile {
	return map[string]Profile{
		"zero2w": {
			Name: "zero2w", Tier: place.TierEdge, Cores: 4, Speed: 0.4, MemBytes: 512 * mib,
			ClassFactor: [place.MaxClasses]float64{appAR: 0.8, appHealth: 1.0, appHeavy: 0.7, appInfo: 0.9},
			RTT:         0.005, Bandwidth: 30 * mbps,
			UndervoltProb: 0.10, UndervoltSpeed: 0.5, UndervoltCrash: 10, MTBF: 4 * 3600,
		},
		"pi4": {
			Name: "pi4", Tier: place.TierEdge, Cores: 4, Speed: 1.0, MemBytes: 4 * gib,
			ClassFactor: [place.MaxClasses]float64{appAR: 1, appHealth: 1, appHeavy: 1, appInfo: 1},
			RTT:         0.0005, Bandwidth: 900 * mbps,
			ThrottleEvery: 600, ThrottleFor: 120, ThrottleSpeed: 0.6,
			UndervoltProb: 0.05, UndervoltSpeed: 0.5, UndervoltCrash: 10, MTBF: 4 * 3600,
		},
		"pi5": {
			Name: "pi5", Tier: place.TierEdge, Cores: 4, Speed: 2.0, MemBytes: 8 * gib,
			ClassFactor: [place.MaxClasses]float64{appAR: 1.2, appHealth: 0.9, appHeavy: 1.1, appInfo: 0.9},
			RTT:         0.0005, Bandwidth: 900 * mbps,
			ThrottleEvery: 600, ThrottleFor: 120, ThrottleSpeed: 0.6,
			UndervoltProb: 0.05, UndervoltSpeed: 0.5, UndervoltCrash: 10, MTBF: 4 * 3600,
		},
		"cloud": {
			Name: "cloud", Tier: place.TierCloud, Cores: 32, Speed: 2.4, MemBytes: 128 * gib,
			ClassFactor: [place.MaxClasses]float64{appAR: 1, appHealth: 1, appHeavy: 1, appInfo: 1},
			Price:       0.05 / 3600,
		},
	}
}
