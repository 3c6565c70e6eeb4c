//go:build !unix

package runner

import (
	"os"
	"os/exec"
)

// execSupported: without process groups the runner could not end what a
// task starts, so it runs builtins only.
const execSupported = false

func setProcessGroup(*exec.Cmd) {}
func termGroup(int)             {}
func killGroup(int)             {}

func signalOf(*os.ProcessState) (os.Signal, bool) { return nil, false }
