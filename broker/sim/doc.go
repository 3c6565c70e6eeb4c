// Package sim is Tether's discrete-event simulator: a fleet of Raspberry Pi class edge nodes
// and an elastic cloud tier, a shared WAN link, workloads modelled on EdgeCloudSim and
// PureEdgeSim applications, stale telemetry and node crashes, all in virtual time on an event
// heap, driven by the same placement code (broker/place) the live scheduler uses.
//
// A run is deterministic for its seed: the workload, the node dynamics and each policy draw
// from separate random streams, so every policy sees the same arrivals and the same node
// behaviour (common random numbers), and the same seed gives byte-identical output.
//
// Entry points: DefaultConfig, Config.RegisterFlags, Config.Validate and Run. The model and its
// parameters are documented in docs/scheduling.md; every number below says where it comes from.
package sim
