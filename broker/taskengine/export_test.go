package taskengine

import (
	"testing"

	"github.com/tether-edge/tether/pkg/kv"
)

// OpenBadgerBackend opens the Badger backend in dir with the tests'
// profile, for the backendtest suite (package taskengine_test).
func OpenBadgerBackend(t *testing.T, dir string) Backend {
	t.Helper()
	db, rec, err := kv.Open(dir, testProfile(), nil)
	if err != nil {
		t.Fatalf("kv.Open: %v", err)
	}
	if rec != nil {
		t.Fatalf("store recovered on open: %+v", rec)
	}
	return &badgerBackend{db: db}
}
