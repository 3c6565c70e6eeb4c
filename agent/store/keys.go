package store

import (
	"encoding/binary"
	"fmt"
)

// The key schema (docs/durability.md has it as a table). Keys are short:
// each one is stored again with every version in the WAL and the tables.
//
//	v                 schema version, uint32: schemaVersion
//	m/id              store id: 16 hex digits, random at creation
//	m/next            next sequence number, uint64
//	m/counters        loss counters (counters.encode)
//	m/session         the last open: count, boot id, time, clean close
//	m/epoch           highest scheduler epoch accepted (epoch.go)
//	o/<seq>           outbox record, seq as 8 bytes big endian (record.go)
//	t/<task>          task state: the last transition (task.go)
//	j/<task>/<n>      the task's n-th transition, n as 4 bytes big endian
//	c/<task>          the task's checkpoint
//	f/<task>          tombstone of a task being forgotten (forget.go)
//
// Task ids follow protocol.ValidateID, so they never contain '/'.
const schemaVersion = 1

var (
	keyVersion  = []byte("v")
	keyID       = []byte("m/id")
	keyNext     = []byte("m/next")
	keyCounters = []byte("m/counters")
	keySession  = []byte("m/session")
	keyEpoch    = []byte("m/epoch")

	prefixOutbox     = []byte("o/")
	prefixTask       = []byte("t/")
	prefixJournal    = []byte("j/")
	prefixCheckpoint = []byte("c/")
	prefixForget     = []byte("f/")
)

const outboxKeyLen = 2 + 8

func outboxKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, outboxKeyLen), prefixOutbox...), seq)
}

// seqOfOutboxKey returns the seq of an outbox key.
func seqOfOutboxKey(k []byte) (uint64, error) {
	if len(k) != outboxKeyLen || string(k[:2]) != string(prefixOutbox) {
		return 0, fmt.Errorf("%w: outbox key %q", errCorruptValue, k)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

func taskKey(task string) []byte { return append(append([]byte(nil), prefixTask...), task...) }
func checkpointKey(task string) []byte {
	return append(append([]byte(nil), prefixCheckpoint...), task...)
}

func journalPrefix(task string) []byte {
	return append(append(append([]byte(nil), prefixJournal...), task...), '/')
}

func journalKey(task string, n uint32) []byte {
	return binary.BigEndian.AppendUint32(journalPrefix(task), n)
}

func u64Value(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(what string, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %s is %d bytes long", errCorruptValue, what, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func u32Value(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
