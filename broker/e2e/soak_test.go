package e2e

import "os"

// soak reports whether TETHER_SOAK asks for the long forms of the tests
// that have one (`make soak`): a 10-minute broker outage, 2,000 SIGKILLs.
// `go test` and `make test` run their short forms, which prove the same
// behaviour in a few minutes and keep the package within go test's
// default 10-minute timeout.
func soak() bool { return os.Getenv("TETHER_SOAK") != "" }
