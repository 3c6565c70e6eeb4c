// Package store is the agent's durable state, on a Badger store opened by
// pkg/kv: the outbox of messages to the scheduler, the task journal and
// the tasks' checkpoints. docs/durability.md has the key schema, the write
// discipline and the API.
//
// An outbox record's life:
//
//	Append ──► durable ──► Pending ──► published ──► Ack ──► acked ──► deleted
//	(seq handed    │        (oldest     (QoS 1)      (PUBACK)  (left out   (at the next
//	 out, built,   │         first)                             of Pending) commit)
//	 committed)    └──► downsampled or dropped (metrics only, outbox full or old): deleted, counted
//
// A crash between Ack and the deletion's commit sends the record again;
// the scheduler drops it by its seq. Sequence numbers are per store and
// never reused: a seq whose commit failed is a gap. A store that had to be
// moved aside for damage is replaced by one with a new ID, which the
// scheduler treats as a new sequence.
package store
