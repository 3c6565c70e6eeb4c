package taskengine

import (
	"context"
	"errors"
)

// Write is one key set (Value non-nil) or deleted (Value nil).
type Write struct{ Key, Value []byte }

// Unit is writes applied together or not at all: a task's record with its
// checkpoint, or a task's move from a/ to f/.
type Unit []Write

// Backend keeps the task store's records (the key schema of keys.go).
// Commit is called by one goroutine at a time; Scan and Get may run beside it.
type Backend interface {
	// Scan calls fn for every record whose key starts with prefix and sorts
	// after `after` (nil: from the first), in key order, until fn returns
	// false or an error. v is nil unless values is set. k and v are valid only
	// during the call.
	Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error
	// Get returns key's value, or nil without an error when it is absent.
	Get(key []byte) ([]byte, error)
	// Commit applies units in order, each one atomically, and returns once
	// they are durable (on a replicated backend: replicated). After an error
	// a prefix of the units may have been applied; the caller stops and a
	// restart reloads what was committed. A backend that is fenced (its
	// writer deposed) returns an error wrapping ErrFenced and applies nothing
	// more, ever.
	Commit(units []Unit) error
	// Run does the backend's upkeep (value-log GC, …) until ctx ends or the
	// backend is closed; nil then.
	Run(ctx context.Context) error
	Close() error
}

// ErrFenced: the store's writer was deposed (another scheduler holds the
// region); nothing it commits is applied.
var ErrFenced = errors.New("task store: fenced: another scheduler holds the region")
