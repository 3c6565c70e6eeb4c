// Package place is Tether's placement core: it decides, for one task at a time, which node
// (an edge node or the cloud tier) should run it, or which queued task a freed slot should take.
//
// The package is pure: no I/O, no goroutines, no clocks, no globals. Every input arrives as an
// argument; every random choice comes from a *rand.Rand the caller injects, so a decision is a
// deterministic function of (fleet state, task, now, random stream). The same code drives the
// live scheduler and the discrete-event simulator in broker/sim.
//
// Units, used everywhere in this package:
//   - time is float64 seconds since an epoch the caller chooses (virtual or wall clock);
//   - work is in work units: 1 unit is one second on one reference core (a Raspberry Pi 4
//     Cortex-A72 core at 1.5 GHz, roughly 1000 MIPS, the EdgeCloudSim edge-VM core);
//   - speed is work units per second per core; bandwidth is bytes per second.
//
// Two kinds of policies exist:
//   - a Dispatcher picks a node the moment a task arrives (the task then waits in that node's
//     FIFO queue): round robin, random, weighted random, least-loaded, least-work, P2C, Tether,
//     oracle;
//   - a Central policy keeps the queue at the scheduler and binds a task only when a node has a
//     free slot: FIFO, SJF, SRTF (preemptive), EDF with admission control, priority with aging.
//
// The View is the scheduler's view. It holds what the scheduler knows exactly (its own
// assignments, starts and completions), what it learns (per node and task class speed, an
// EWMA of observed rates), and what nodes report (background load, health, queue length),
// which may be seconds old. It keeps indexes incrementally (O(log n) per event) so that a
// Tether decision costs O(1) candidate evaluations at any fleet size.
//
// Nothing here is safe for concurrent use; the owner serialises calls.
//
// Where placement lives:
//   - place (this package): the pure policies, the View and the cost model, shared by the live
//     scheduler and the simulator (broker/sim);
//   - place/live: the live adapter — these policies behind the task engine's Placer, its View
//     kept in step with the engine's nodes and attempts;
//   - broker/taskengine: the engine's seam (taskengine.Placer and its optional Observer, PolicyChecker
//     and Queue) and the constraints every placement honours (taskengine.Fits);
//   - broker/config (placement.go): the placement section that configures place/live.
//
// A node reaches a decision as fleet.Node (what the fleet heard), then taskengine.NodeState (serve's
// taskNode; the engine bounds its claimed slots and speed, taskengine.Limits), then
// taskengine.Candidate (that node with the engine's charges, handed to Place without a copy), then
// this package's NodeSpec and Report (place/live's declare and report).
package place
