package taskengine

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// The key schema of the scheduler's task store (docs/scheduler-store.md has
// it as a table). Task and node ids follow protocol.ValidateID, so they
// never contain '/'.
//
//	v                    schema version, uint32 big endian: schemaVersion
//	a/<task>             a task not yet finished: its record (record.go)
//	f/<task>             a finished task (succeeded, failed, cancelled)
//	c/<task>             the latest checkpoint of an active task
//	x/<node>/<task>      a fence: a stale attempt of the task that the node
//	                     may still run, to be cancelled when it is back
//	q/<node>             a node in quarantine, and until when
//
// A task is under a/ or f/, never both: the move is one transaction. A
// store that has both (written by a version that split them) is read as
// finished.
const schemaVersion = 1

var (
	keyVersion       = []byte("v")
	prefixActive     = []byte("a/")
	prefixFinished   = []byte("f/")
	prefixCheckpoint = []byte("c/")
	prefixFence      = []byte("x/")
	prefixQuarantine = []byte("q/")
)

func key(prefix []byte, parts ...string) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, prefix...)
	for i, p := range parts {
		if i > 0 {
			k = append(k, '/')
		}
		k = append(k, p...)
	}
	return k
}

func activeKey(id string) []byte     { return key(prefixActive, id) }
func finishedKey(id string) []byte   { return key(prefixFinished, id) }
func checkpointKey(id string) []byte { return key(prefixCheckpoint, id) }
func fenceKey(node, id string) []byte {
	return key(prefixFence, node, id)
}
func quarantineKey(node string) []byte { return key(prefixQuarantine, node) }

// idOf returns the id after prefix in k.
func idOf(prefix, k []byte) string { return string(bytes.TrimPrefix(k, prefix)) }

// fenceOf splits a fence key into node and task.
func fenceOf(k []byte) (node, id string, ok bool) {
	node, id, ok = strings.Cut(idOf(prefixFence, k), "/")
	return node, id, ok && node != "" && id != ""
}

func u32Value(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
