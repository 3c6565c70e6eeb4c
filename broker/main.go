// Command tether-broker is Tether's regional scheduler and its command
// line: `serve` runs the scheduler (with an embedded MQTT broker unless one
// is configured); the other commands operate it — the fleet (`nodes`),
// users and keys (`passwd`, `keygen`), tasks (`submit`, `tasks`, `task`,
// `cancel`), the placement simulator (`sim`), a simulated fleet
// (`loadgen`) and `version`. `tether-broker help` lists them all
// (broker/cli's commands).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-edge/tether/broker/cli"
	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/pkg/kv"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	kv.ServeProbe(nil) // a copy started to probe a task store's open: never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, cli.OSEnv(version), os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-broker:", err)
		os.Exit(exitCode(err))
	}
}

// exitKeyMismatch (sysexits' EX_CONFIG) is the exit status of a
// scheduler whose signing key file is not its region's: starting it again
// cannot help, and deploy/systemd's unit does not
// (RestartPreventExitStatus=78). Every other error exits 1.
const exitKeyMismatch = 78

func exitCode(err error) int {
	if errors.Is(err, ha.ErrKeyMismatch) {
		return exitKeyMismatch
	}
	return 1
}
