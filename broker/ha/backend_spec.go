package ha

import (
	"context"
	"errors"
)

// The task store's Backend interface (broker/tasks/backend.go), copied
// until it is on main; then these go and the package uses tasks'.

// Write is one key set (Value non-nil) or deleted (Value nil).
type Write struct{ Key, Value []byte }

// Unit is writes applied together or not at all.
type Unit []Write

// Backend keeps the task store's records.
type Backend interface {
	Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error
	Get(key []byte) ([]byte, error)
	Commit(units []Unit) error
	Run(ctx context.Context) error
	Close() error
}

// ErrFenced: the store's writer was deposed.
var ErrFenced = errors.New("task store: fenced: another scheduler holds the region")
