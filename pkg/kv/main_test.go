package kv

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Every test closes what it opens; Badger's goroutines end in Close. When
// badger.Open fails after it started them, its cleanup leaves two behind
// (a cache monitor and an allocator pool's reaper, both idle on tickers):
// Open returns such failures to the caller, which exits. A DB left open
// would leak its writer, flusher and compactors, which are not ignored.
//
// The test binary is its own probe (ServeProbe) and the process
// TestKilledInsideOpenKeepsTheStore kills inside Open (hangInOpen).
func TestMain(m *testing.M) {
	ServeProbe(probeTestCheck)
	hangInOpen()
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		goleak.Cleanup(func(code int) {
			if templateDirs.closed != "" {
				_ = os.RemoveAll(filepath.Dir(templateDirs.closed))
			}
			os.Exit(code)
		}),
	)
}
