package main

import (
	"os"
	"slices"
	"testing"
)

// envAgentMain makes this test binary the agent: started with it set and
// "-- ARGS…", TestMain runs main with ARGS, as the tether-agent binary
// would be run. Tests that need a real agent process (one the kernel can
// kill or fail, with its own exit status) start themselves so.
const envAgentMain = "TETHER_AGENT_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envAgentMain) != "" {
		i := slices.Index(os.Args, "--")
		if i < 0 {
			os.Stderr.WriteString("agent main: no -- before the agent's arguments\n")
			os.Exit(2)
		}
		os.Args = append([]string{"tether-agent"}, os.Args[i+1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
