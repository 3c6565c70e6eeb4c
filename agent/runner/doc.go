// Package runner is the agent's task runner: it verifies the assignments
// the scheduler signs, runs the tasks in a bounded number of slots, and
// reports every step as a task event through the agent's store, so that
// what it tells the scheduler survives restarts and power cuts and goes
// out in order whenever the broker is reachable.
//
// An attempt's life on the node (the states are the Event states, and the
// journal's; every arrow is one store.Journal: the transition, the saved
// record and the task event in one transaction):
//
//	assignment ─verified, allowed─▶ accepted ─slot free─▶ running ◀───────┐
//	     │                              │                  │  │            │
//	     ▼                              │ cancel           │  └──▶ checkpoint
//	  refused                           ▼                  │
//	                                cancelled ◀─ cancel, ──┤
//	                                             superseded├──▶ succeeded
//	                                                       └──▶ failed
//
// failed: exit code ≠ 0, a timeout, or a restart of an exec task that is
// not checkpointable. After an agent restart accepted attempts queue
// again, and running ones start again: from their last checkpoint when
// they have one, from the beginning otherwise.
//
// Assignments that fail verification or the node's rules are refused: the
// refused event goes through the outbox but not the journal, since the
// node keeps no state for them. Terminal tasks are forgotten (ForgetTask)
// once their last event was acknowledged by the broker and their
// assignment can no longer verify (past its expiry), or after a retention
// period.
//
// The saved record — the task's spec, its attempt, the progress and the
// workload's checkpoint, and at the end its result — is written as the
// store's checkpoint of the task with the accepted transition and every
// checkpoint and terminal transition, so a restart finds all it needs to
// resume the task or answer for it.
//
// docs/tasks.md describes the behaviour for users, with the contract for
// exec tasks that checkpoint.
package runner
