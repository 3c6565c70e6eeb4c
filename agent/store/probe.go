package store

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// ServeProbe is kv.ServeProbe with this store's check: the agent calls it
// first thing in main, so that after opens that never finished Open can
// tell a store that crashes every open (moved aside) from an agent killed
// while opening it (kept).
func ServeProbe() {
	kv.ServeProbe(func(dir string, p kv.Profile, db *badger.DB) error {
		_, err := load(db, blobsFor(dir, p))
		return err
	})
}
