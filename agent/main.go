// Command tether-agent runs on an edge device: it measures the device's
// resources and reports them over MQTT to the regional Tether scheduler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-edge/tether/agent/store"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	store.ServeProbe() // a copy of the agent started to probe its store's open: never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-agent:", err)
		os.Exit(1)
	}
}
