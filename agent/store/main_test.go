package store

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes the stores it opens: Close stops Run and Badger's
// goroutines.
// The test binary is its own store probe (ServeProbe), as the agent is.
func TestMain(m *testing.M) {
	ServeProbe()
	forgetAndDie()
	migrateAndDie()
	goleak.VerifyTestMain(m,
		// Left by badger.Open when it fails after starting them (see
		// pkg/kv's TestMain); idle tickers.
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		// The power-cut workload's console reader, blocked on stdin
		// until the process ends.
		goleak.IgnoreAnyFunction("github.com/tether-edge/tether/scripts/powerloss/ackline.Read"),
	)
}
