package taskengine

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes the stores and sessions it opens.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Left by badger.Open when it fails after starting them (see
		// pkg/kv's TestMain); idle tickers.
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
	)
}
