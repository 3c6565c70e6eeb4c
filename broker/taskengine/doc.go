// Package taskengine is the scheduler's durable task store and task lifecycle.
//
//   - Store: the tasks over a Backend — Badger (pkg/kv's Server profile)
//     by default, or a replicated one given to OpenStoreOn — with a
//     versioned key schema and checksummed records; Commit writes a
//     round's changes in one durable commit.
//   - Engine: the lifecycle without I/O — submissions (idempotent by spec
//     id), cancellations, agents' events (idempotent, fenced by attempt),
//     the fleet's changes and the passing of time become transitions, and
//     each transition the writes that persist it and the messages that
//     announce it. Placement is behind the Placer interface, which the
//     engine must be given (tether-broker serve gives broker/place/live's,
//     which observes the engine's nodes and attempts); assignments are
//     signed with the scheduler's ed25519 key.
//   - Service: the Engine over MQTT — one goroutine applies inputs in
//     rounds while the previous round commits (group commit, pipelined),
//     and each round's messages go to a publisher once its own commit
//     returned: every transition is persisted before it is announced.
//
// docs/scheduler-store.md describes the key schema, the write discipline
// and restarts; docs/tasks.md the task model users see.
package taskengine
