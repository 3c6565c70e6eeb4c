// Package serve is `tether-broker serve`: the regional scheduler process.
// It runs the embedded MQTT broker unless an external one is configured,
// and in both cases connects to the broker through the same MQTT session a
// remote scheduler would use. It keeps the fleet view and publishes the
// retained scheduler status, fleet summary and per-node fleet rows, and runs the
// task store and lifecycle (broker/taskengine): submissions, cancellations,
// agents' task events, and the fleet's changes feed it. Tasks are placed
// with broker/place's policies (broker/place/live), configured in the
// placement section.
package serve

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/broker/httpd"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/broker/place/live"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Options carry what is not configuration.
type Options struct {
	Logger  *slog.Logger
	Version string
	// OnReady, if set, is called once the scheduler is connected, with
	// the URL of the broker it uses (the embedded one's bound address).
	OnReady func(brokerURL string)
	// Reload, when it delivers, makes the embedded broker re-read its
	// credentials file and TLS files, and the configuration be read again
	// through ReloadConfig (the CLI wires SIGHUP to it): what can change
	// live is applied, what needs a restart is named in the log.
	Reload <-chan os.Signal
	// ReloadConfig reads and validates the configuration again, as at
	// start (file, environment, flags). Nil: a reload reads none.
	ReloadConfig func() (config.Config, error)
	// Level is the logger's level, which a reload changes (log_level).
	// Nil: log_level needs a restart.
	Level *slog.LevelVar
	// Now and Elapsed are the scheduler's clocks for its fleet view and
	// task engine. Now is the wall clock, which only stamps what is
	// stored, published and shown; NTP may step it either way. Elapsed is
	// the monotonic clock (time since any fixed origin) that every
	// interval and judgement is measured on: a node's silence, the grace
	// after a reconnect, task acknowledgement, start, progress and run
	// timeouts, backoff, quarantine. Nil: time.Now and the process's
	// monotonic clock.
	Now     func() time.Time
	Elapsed func() time.Duration
	// Epoch is the leadership term this scheduler leads in, from the
	// region's consensus (with ha, the term this process won replaces
	// it): its status, will and goodbye, every assignment and every task
	// status carry it. 0: a scheduler without high availability, whose
	// messages carry none.
	Epoch uint64
}

// embedded is what serve needs of the embedded broker.
type embedded interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	Addr() net.Addr
	TLSAddr() net.Addr
	Reload() error
	Stats() mqttd.Stats
}

var _ embedded = (*mqttd.Server)(nil)

// Run serves until ctx ends. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	password, err := cfg.ResolvePassword()
	if err != nil {
		return err
	}
	brokers := cfg.MQTTURL
	var broker embedded
	var rx *mqttd.Receiver
	if cfg.UsesEmbedded() {
		topics, err := protocol.NewTopics(cfg.Region)
		if err != nil {
			return err
		}
		if rx, err = mqttd.NewReceiver(receiverFilters(topics)...); err != nil {
			return err
		}
		srv, err := mqttd.New(mqttd.Options{
			Addr: cfg.Embedded.Listen, TLSAddr: cfg.Embedded.TLSListen,
			CertFile: cfg.Embedded.CertFile, KeyFile: cfg.Embedded.KeyFile, ClientCAFile: cfg.Embedded.ClientCAFile,
			CredentialsFile: cfg.Embedded.CredentialsFile, Region: cfg.Region,
			SchedulerUsers: []string{cfg.Username}, MonitorUsers: cfg.Embedded.MonitorUsers, OperatorUsers: cfg.Embedded.OperatorUsers,
			MaxPendingWrites: cfg.Embedded.MaxPendingWrites, Logger: o.Logger,
			DiscoveryPrefix:    cfg.DiscoveryPrefix(),
			ConnectTimeout:     cfg.Embedded.ConnectTimeout,
			MaxUnauthenticated: cfg.Embedded.MaxUnauthenticated, MaxUnauthenticatedPerAddr: cfg.Embedded.MaxUnauthenticatedPerAddr,
			MaxClientPacketSize:  cfg.Embedded.MaxClientPacketSize,
			MaxRetainedPerClient: cfg.Embedded.MaxRetainedPerClient, MaxRetainedBytesPerClient: cfg.Embedded.MaxRetainedBytesPerClient,
			MaxSubscriptionsPerClient: cfg.Embedded.MaxSubscriptionsPerClient,
			Receiver:                  rx,
		})
		if err != nil {
			return err
		}
		broker = srv
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	brokerErr := make(chan error, 1)
	brokerCtx, stopBroker := context.WithCancel(context.Background())
	defer stopBroker()
	if broker != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			brokerErr <- broker.Run(brokerCtx)
		}()
		select {
		case <-broker.Ready():
		case err := <-brokerErr:
			wg.Wait()
			return err
		case <-ctx.Done():
			stopBroker()
			wg.Wait()
			return nil
		}
		brokers = []string{ownURL(broker)}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := &reloader{cur: cfg, b: broker, o: o}
		r.loop(brokerCtx)
	}()

	var lead *leadership
	if cfg.HA.Enabled() {
		// A standby waits here; a scheduler that loses its term stops
		// acting through ctx (cause ErrDeposed) and returns ErrDeposed.
		stopStandby, err := standbyHTTP(cfg, o.Logger)
		if err != nil {
			stopBroker()
			wg.Wait()
			return err
		}
		lead, err = campaign(ctx, cfg, password, o.Logger)
		stopStandby()
		if err != nil || lead == nil {
			stopBroker()
			wg.Wait()
			return err
		}
		defer lead.close()
		ctx = lead.bind(ctx)
		o.Epoch = lead.epoch()
	}
	st, ld, key, err := openTasks(ctx, cfg, o, lead)
	if err == nil {
		var s *scheduler
		s, err = newScheduler(cfg, o, brokers, password, st, ld, key, lead)
		if err == nil {
			s.rx = rx
			if cfg.Enrol.File != "" {
				s.enrol = &enroller{file: cfg.Enrol.File, creds: cfg.EnrolCredentials(), now: time.Now}
				if broker != nil {
					s.enrol.reload = broker.Reload
				} else {
					s.enrol.reload = runReload(cfg.Enrol.ReloadCommand) // Validate: set with mqtt_url
				}
			}
			err = s.openBlobs(ctx)
		}
		if err == nil {
			s.restoreShares(ctx, st, ld)
		}
		var hs *httpd.Server
		if err == nil {
			hs, err = s.newHTTP(broker)
			s.http = hs
		}
		if err == nil {
			httpCtx, stopHTTP := context.WithCancel(ctx)
			httpDone := make(chan struct{})
			if hs != nil {
				go func() {
					defer close(httpDone)
					if herr := hs.Run(httpCtx); herr != nil {
						s.log.Error("http listener stopped", "err", herr)
					}
				}()
			} else {
				close(httpDone)
			}
			err = s.run(ctx, brokerErr)
			stopHTTP()
			<-httpDone
		}
		if s != nil && s.blobStore != nil {
			if cerr := s.blobStore.Close(); err == nil {
				err = cerr
			}
		}
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}
	// The scheduler has said goodbye; now the broker may go.
	stopBroker()
	wg.Wait()
	if lead.deposed() {
		return ErrDeposed
	}
	return err
}

// ownURL is how the scheduler reaches the embedded broker: its plain
// listener, else its TLS listener by the name "localhost" (an unspecified
// bind address is no name a certificate can carry).
func ownURL(b embedded) string {
	if a := b.Addr(); a != nil {
		return "tcp://" + loopbackFor(a)
	}
	return "tls://" + loopbackFor(b.TLSAddr())
}

func loopbackFor(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

type scheduler struct {
	cfg      config.Config
	o        Options
	log      *slog.Logger
	topics   protocol.Topics
	instance string
	fleet    *fleet.Fleet
	sess     *session.Session
	actions  chan nodeAction // commands the fleet asked for, served off the receive path
	intake   *intake         // the receive path's queue and workers, over MQTT
	// rx, beside the embedded broker, is the receive path instead of
	// intake (receive.go); nil with an external broker.
	rx        *mqttd.Receiver
	nodeLocks nodeLocks
	// nodeBytes counts the topic and payload bytes of the live node
	// messages (births, wills, reports) received: the fleet view's
	// budget (rowbudget.go).
	nodeBytes atomic.Int64
	rejects   *logging.Every
	// unverified logs nodes' refusals of assignments they could not verify.
	unverified *logging.Every
	ready      sync.Once
	readyOnce  atomic.Bool  // set once ready has run: /readyz
	rowsHeld   atomic.Int64 // due fleet rows the row budget held at the last pass: tether_fleet_rows_held
	store      *taskengine.Store
	tasks      *taskengine.Service
	// viewEpoch counts connections to the broker; publishLoop publishes
	// every row again when it changes.
	viewEpoch atomic.Uint64
	// badRows logs rows of the fleet view that could not be published.
	badRows *logging.Every
	// unsent logs commands to nodes that were not sent (handle.go).
	unsent  *logging.Every
	http    *httpd.Server // nil without http.listen (dashboard.go)
	replies replies       // answers to the scheduler's own requests and its self-probes
	self    selfProbe     // what the self-probe saw (selfprobe.go)
	// blobStore keeps task data (blobs.dir); blobs moves it to and from
	// nodes (blobs.go).
	blobStore *blob.Store
	blobs     *blob.Endpoint
	pulls     pulls
	pullCtx   context.Context // the scheduler's run: pulls end with it
	enrol     *enroller       // nil without enrol.file (enrol.go)
	links     *links.Table    // the nodes' links as measured (links.go)
	silence   *probeSilence   // the probes in flight and the nodes that do not answer them
	// linksSaved is the links' Gen last saved (linkstore.go); only
	// restoreLinks and then linkSaveLoop use it.
	linksSaved uint64
	epoch      time.Time // the origin of monotonic when Options.Elapsed is nil
	// lead is the region's lease and term with ha (ha.go); nil without.
	lead *leadership
	// replica is the region's blob bucket with ha, nil without; inReplica
	// the blobs known to be there (blobreplica.go).
	replica   replica
	inReplica replicaSet
	// replicaOwners is the operators the bucket's objects named at
	// start, until restoreOperators charged them.
	replicaOwners map[blob.ID]string
}

// monotonic is the scheduler's monotonic clock (Options.Elapsed).
func (s *scheduler) monotonic() time.Duration {
	if s.o.Elapsed != nil {
		return s.o.Elapsed()
	}
	return time.Since(s.epoch)
}

// redelivery is how long the fleet awaits a message its agent no longer
// holds (fleet.Options.Redelivery). The embedded broker hands the scheduler
// every message in order before acknowledging it, so nothing comes late.
func redelivery(cfg config.Config) time.Duration {
	if cfg.UsesEmbedded() {
		return 0
	}
	return cfg.RedeliveryWindow
}

func newScheduler(cfg config.Config, o Options, brokers []string, password string,
	st *taskengine.Store, ld taskengine.Loaded, key ed25519.PrivateKey, lead *leadership) (*scheduler, error) {
	topics, err := protocol.NewTopics(cfg.Region)
	if err != nil {
		return nil, err
	}
	tc, err := session.TLSConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	s := &scheduler{
		cfg: cfg, o: o, log: o.Logger.With("component", "scheduler"), topics: topics,
		instance: newInstanceID(),
		fleet: fleet.New(fleet.Options{Grace: cfg.OfflineGrace, Redelivery: redelivery(cfg),
			Now: o.Now, Elapsed: o.Elapsed}),
		actions: make(chan nodeAction, 1024),
		intake:  newIntake(intakeWorkers, intakeDepth),
		store:   st,
		lead:    lead,
		links:   links.NewTable(),
		silence: newProbeSilence(),
		epoch:   time.Now(),
	}
	s.rejects = logging.NewEvery(s.log, time.Second)
	s.unverified = logging.NewEvery(s.log, time.Second)
	s.badRows = logging.NewEvery(s.log, time.Second)
	s.unsent = logging.NewEvery(s.log, time.Second)
	s.sess, err = session.New(session.Options{
		Brokers: brokers, ClientID: cfg.Username + "@" + cfg.Region, Username: cfg.Username, Password: password,
		TLS: tc, KeepAlive: cfg.KeepAlive, Logger: s.log,
		Will:      func() *session.Message { return s.status(protocol.StateOffline, protocol.ReasonLost) },
		OnConnect: s.onConnect, OnSubscribed: s.onSubscribed,
		Goodbye: func() *session.Message {
			if s.lead.deposed() {
				return nil // the successor speaks for the region
			}
			return s.status(protocol.StateOffline, protocol.ReasonShutdown)
		},
	})
	if err != nil {
		return nil, err
	}
	s.restoreLinks() // before the Placer: it starts from what the table holds
	s.showWAN()
	po := cfg.Placement.Options()
	po.Logger, po.Links = o.Logger, s.links
	placer, err := live.New(po)
	if err != nil {
		return nil, err
	}
	s.tasks, err = taskengine.NewService(st, ld, s.sess, taskengine.ServiceOptions{
		Topics: topics, Key: key, Logger: o.Logger, Placer: placer,
		Grace: cfg.Tasks.NodeLostGrace, AckTimeout: cfg.Tasks.AckTimeout, Expiry: cfg.Tasks.AssignmentExpiry,
		BackoffBase: cfg.Tasks.RetryBackoff, BackoffCap: cfg.Tasks.RetryBackoffMax,
		Limits: cfg.Tasks.Limits(), MaxPending: cfg.Tasks.MaxPending, NodeQueue: cfg.Placement.EngineNodeQueue(),
		YieldWait: cfg.Placement.EngineYieldWait(), StartTimeout: cfg.Tasks.StartTimeout, ProgressTimeout: cfg.Tasks.ProgressTimeout,
		QuarantineAfter: cfg.Tasks.QuarantineAfter, Quarantine: cfg.Tasks.Quarantine,
		Now: o.Now, Elapsed: o.Elapsed, Epoch: o.Epoch, BeforeSubmit: s.touchInputs,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *scheduler) run(ctx context.Context, brokerErr <-chan error) error {
	if s.rx == nil {
		s.intake.afterCommit = s.tasks.AfterCommit
		for _, r := range s.routes() {
			subscribe := s.sess.Subscribe
			if r.tasks {
				subscribe = s.sess.SubscribeDeferred
			}
			if err := subscribe(ctx, r.filter, 1, s.intake.handler(r.h)); err != nil {
				return err
			}
		}
	}
	if err := s.dashboardSubscribe(ctx); err != nil {
		return err
	}
	if err := s.attachBlobs(ctx); err != nil {
		return err
	}
	// The workers outlive the session: what it acknowledged is handled.
	stopIntake := s.intake.start(context.WithoutCancel(ctx))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.sweepLoop, s.publishLoop, s.commandLoop, s.blobLoop, s.probeLoop, s.blobGCLoop, s.linkSaveLoop, s.selfProbeLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	// The task service and the store's garbage collection stop the
	// scheduler when they fail: a failed commit leaves the engine ahead
	// of the store, and a restart reloads what was committed.
	tasksErr := make(chan error, 2)
	for _, run := range []func(context.Context) error{s.tasks.Run, s.store.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				tasksErr <- err
			}
		}()
	}
	if s.rx != nil {
		// After the task service runs: what the receiver applies to it
		// waits for its commits.
		if err := s.rx.Start(s.receive); err != nil {
			cancel()
			wg.Wait()
			stopIntake()
			return err
		}
	}
	sessErr := make(chan error, 1)
	go func() { sessErr <- s.sess.Run(ctx) }()
	var err error
	select {
	case err = <-sessErr:
	case err = <-brokerErr:
		if err == nil {
			err = errors.New("embedded broker stopped")
		}
		err = fmt.Errorf("embedded broker: %w", err)
		cancel()
		<-sessErr
	case err = <-tasksErr:
		err = fmt.Errorf("tasks: %w", err)
		cancel()
		<-sessErr
	}
	if s.rx != nil {
		s.rx.Stop() // what it still applies is committed or refused
	}
	stopIntake() // the session is done: nothing more is queued
	cancel()
	wg.Wait()
	return err
}
