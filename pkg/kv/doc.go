// Package kv opens Tether's Badger stores: the agent's outbox, task
// journal and checkpoints on a device, the scheduler's task store on a
// server. It owns what every Badger store in Tether needs and nothing about
// what is stored:
//
//   - a Profile per kind of machine (Device, Server) that sizes memtables,
//     tables, value-log files and caches deliberately, with the memory
//     budget written next to the options;
//   - SyncWrites on: a transaction is on disk when Commit returns;
//   - a guarded Open that never crash-loops: it checks the files Badger
//     would read in goroutines it cannot recover (preflight.go), recovers
//     panics, and moves a damaged store aside to start a fresh one, while
//     returning errors that are conditions of the machine (permissions, a
//     full disk, a held lock, no address space) without touching the data;
//   - Run, the value-log garbage collection loop, owned by the caller;
//   - Rebuild (rebuild.go): a store replaced whole by a copy written
//     beside it, crash-safe at every step, so that nothing of its old
//     files (value-log entries of deleted values) is left;
//   - compaction on demand (compact.go) for the device: the DB's own
//     goroutine compacts after signalled writes (Wrote; Update signals)
//     and sleeps while the store is idle, where Badger's compactors would
//     wake 40 times a second.
//
// docs/durability.md describes the write discipline, the memory budget and
// recovery.
package kv
