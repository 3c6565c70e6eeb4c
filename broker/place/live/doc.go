// Package live is the live scheduler's placement: broker/place's dispatch policies
// (Tether's cost model, P2C, least-work, round robin, random, weighted random, least-loaded)
// behind broker/taskengine' Placer interface.
//
// The Placer keeps a place.View that mirrors what the task engine knows, told through the
// engine's Observer calls:
//
//   - nodes (NodeUpdated): every online node with facts is a fleet node, declared from its
//     facts and its tether.* labels — slots (tether.slots, else its cores), speed
//     (its board's, board.go, else tether.speed, else 1 reference core), its link to the site (tether.rtt_ms,
//     tether.bandwidth_mbps, else the configured LAN; for a cloud node, else the configured
//     WAN), each blended with its measurement when Options.Links has one (the WAN's is
//     pooled from the cloud nodes and follows them at each cloud node's report: BlendWAN)
//     — and its latest metrics become a report: background load (its CPU busy share
//     less the share of the tasks the scheduler runs there) and health (throttled,
//     undervoltage). A node that goes offline keeps its record (place.View.Offline) until
//     the engine ends its attempts;
//   - attempts (AttemptAssigned, AttemptRunning, AttemptEnded): the fleet's record of each
//     node's queue is the engine's own, exact; a success teaches the node's speed for the
//     task's class from the node's own measurement (the result's duration_ms less the
//     fetch_ms its inputs took to arrive and, for builtins, work_done).
//
// For a queue order (fifo, sjf, srtf, edf, priority) New returns a Queued: the engine keeps
// the tasks pending at the scheduler, offers them in the queue's order (taskengine.Queue), and each
// is placed only on a node with a free slot by the fleet's record, the one the cost model says
// finishes it first. srtf preempts for a task that would wait (taskengine.WaitPreempter), edf
// refuses at submission a deadline it cannot meet (taskengine.Admitter): the simulator's rules
// (place.SRTFVictim, place.AdmitEDF).
//
// A decision (Place) maps the request onto a place.Task — work, class, input and output
// bytes and where the input lives, absolute deadline, priority, tier, memory — with the
// engine's own Fits (labels, reserved millicores and memory) and the node to avoid as the
// task's Allow constraint, and asks the task's policy (spec.policy, else the scheduler's).
// Time is seconds since the Placer was made, on its injected clock.
//
// Like the engine it serves, a Placer is not safe for concurrent use: the engine's goroutine
// makes every call.
package live
