package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Credential is one MQTT user; a node's user is its node id.
type Credential struct {
	User     string
	Password string
}

// Options configure a Generator. Zero fields take the defaults below.
type Options struct {
	// Broker is the MQTT broker's host:port (plain TCP). Brokers are
	// more listeners of the same region (a NATS cluster's nodes), after
	// Broker when both are set: node i dials the (i mod n)-th first and
	// the next one after each failed connect, as an agent moves down its
	// list; the monitor and the checker dial the first and move on the
	// same way.
	Broker  string
	Brokers []string
	Region  string // default "default"
	// Nodes are the simulated agents, one session each, with their own
	// credentials.
	Nodes []Credential
	// Monitor is the user of the stream checker, which reads the node
	// reports and the scheduler's fleet rows: a monitor, or on the
	// embedded broker the scheduler's user (see monitor). Required.
	Monitor Credential
	// Checker is the user of the new monitor that counts retained
	// statuses (default Monitor). A broker that makes the username the
	// client id (Mosquitto's use_username_as_clientid) needs another user
	// here, or the checker would take over the monitor's session.
	Checker Credential

	// Report is how often a node samples (the agent's interval, 10 s);
	// ChangeRate the chance a sample crosses a threshold and is sent
	// (0.3); Heartbeat the longest a node stays silent (30 s).
	Report     time.Duration
	ChangeRate float64
	Heartbeat  time.Duration
	KeepAlive  time.Duration // 30 s, the agent's
	TaskSlots  int           // announced in the birth's facts (4)

	// Ramp spreads the first connects uniformly over this long (0: all at
	// once, a connect storm). Reconnects after a drop back off as agents do:
	// uniform in [d/2, d], d doubling from ReconnectMin to ReconnectMax.
	Ramp         time.Duration
	ReconnectMin time.Duration // 1 s
	ReconnectMax time.Duration // 30 s

	// Steady is how long the fleet runs before the mass drop, and again
	// after it (60 s). Drop false skips the mass drop.
	Steady time.Duration
	Drop   bool
	// Until, when set, makes the first steady state last until it is
	// closed (or the run's context ends) instead of Steady: the caller
	// decides when the nodes stop, e.g. once its own events under load
	// are over. The retained check and NodesCommand then run at the
	// steady state's start; a second steady state (Drop) lasts Steady.
	Until <-chan struct{}
	// Settle bounds each wait for the fleet to come online or to be seen
	// offline (120 s).
	Settle         time.Duration
	ConnectTimeout time.Duration // 10 s

	// Nodes command, if set, is timed during the steady state: the
	// operator's view of the fleet (`tether-broker nodes`).
	NodesCommand func(ctx context.Context) error
	// Watch are processes to measure (name → pid): RSS and CPU.
	Watch  map[string]int
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Region == "" {
		o.Region = "default"
	}
	def(&o.Report, 10*time.Second)
	def(&o.Heartbeat, 30*time.Second)
	def(&o.KeepAlive, 30*time.Second)
	def(&o.ReconnectMin, time.Second)
	def(&o.ReconnectMax, 30*time.Second)
	def(&o.Steady, 60*time.Second)
	def(&o.Settle, 120*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	if o.ChangeRate <= 0 {
		o.ChangeRate = 0.3
	}
	if o.TaskSlots <= 0 {
		o.TaskSlots = 4
	}
	if o.Checker.User == "" {
		o.Checker = o.Monitor
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	if len(o.addrs()) == 0 {
		return errors.New("no broker address (host:port)")
	}
	for _, a := range o.addrs() {
		if a == "" {
			return errors.New("an empty broker address: want host:port")
		}
	}
	if _, err := protocol.NewTopics(o.Region); err != nil {
		return err
	}
	if len(o.Nodes) == 0 {
		return errors.New("no nodes: give at least one node's credentials")
	}
	for _, n := range o.Nodes {
		if err := protocol.ValidateID("node id", n.User); err != nil {
			return err
		}
	}
	if o.Monitor.User == "" {
		return errors.New("no monitor user: the checker reads the stream as a monitor")
	}
	if o.ChangeRate > 1 {
		return fmt.Errorf("change rate %v is above 1", o.ChangeRate)
	}
	return nil
}

// addrs is Broker, if set, then Brokers.
func (o *Options) addrs() []string {
	if o.Broker == "" {
		return o.Brokers
	}
	return append([]string{o.Broker}, o.Brokers...)
}
