package serve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/broker/httpd"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/session"
)

// ErrDeposed: this scheduler lost the region's lease (it could not renew
// it in time, or another scheduler holds it). It stopped acting before
// the lease ran out; its process should exit and start again as a
// standby (systemd's Restart= does that).
var ErrDeposed = errors.New("scheduler deposed: the region's lease is lost; another scheduler takes over")

// leadership is a highly available scheduler's hold on its region
// (cfg.HA): its NATS connection, and the term it won.
type leadership struct {
	nc     *nats.Conn
	term   *ha.Term
	lost   atomic.Bool
	log    *slog.Logger
	cancel context.CancelCauseFunc
	// configured is tasks.signing_key_file's key as campaign read it (nil:
	// none): openTasks compares it with the region's, not a second read.
	configured ed25519.PrivateKey
}

// standbyHTTP serves /healthz, /readyz (503: standing by) and /metrics
// (tether_scheduler_acting 0) on http.listen while the scheduler stands by,
// so probes and Prometheus see a live standby. The returned stop ends it
// and frees the address for the acting scheduler's server.
func standbyHTTP(cfg config.Config, log *slog.Logger) (stop func(), err error) {
	if cfg.HTTP.Listen == "" {
		return func() {}, nil
	}
	hs, err := httpd.New(httpd.Options{Addr: cfg.HTTP.Listen, Logger: log.With("component", "http"), Pprof: cfg.HTTP.Pprof,
		Ready:  func() error { return errStandingBy },
		Leader: func() (bool, uint64) { return false, 0 }})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Run(ctx); err != nil {
			log.Error("standby http listener stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

var errStandingBy = errors.New("standing by for the region's lease (another scheduler acts)")

// campaign connects to the cluster's core-NATS listeners and waits, as a
// standby, until this scheduler holds the region's lease. It returns nil
// without an error when ctx ends first. A scheduler whose
// tasks.signing_key_file is unreadable, or holds another key than the
// region's, fails here without taking the lease (watchKey).
func campaign(ctx context.Context, cfg config.Config, password string, log *slog.Logger) (*leadership, error) {
	log = log.With("component", "ha", "holder", cfg.HA.HolderName())
	var key ed25519.PrivateKey
	if f := cfg.Tasks.SigningKeyFile; f != "" {
		var err error
		if key, err = taskengine.LoadSigningKey(f); err != nil {
			return nil, err
		}
	}
	opts := []nats.Option{
		nats.Name("tether-scheduler " + cfg.HA.HolderName()),
		nats.UserInfo(cfg.Username, password),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(5 * time.Second),
	}
	if cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" || usesTLS(cfg.HA.NATSURL) {
		tc, err := session.TLSConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := connectNATS(ctx, strings.Join(cfg.HA.NATSURL, ","), opts, log)
	if err != nil || nc == nil {
		return nil, err
	}
	// The lease names this process, not only this machine: a scheduler
	// that finds its own holder in the lease takes it back, so two
	// processes configured with one name (two containers of one host
	// name) must not both see themselves there.
	var suffix [4]byte
	rand.Read(suffix[:])
	holder := cfg.HA.HolderName() + "/" + hex.EncodeToString(suffix[:])
	region, err := ha.Open(ctx, nc, ha.Options{Region: cfg.Region, Holder: holder,
		LeaseTTL: cfg.HA.TTL(), Replicas: cfg.HA.Replicas, Log: log})
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("ha: %w", err)
	}
	if err := checkKey(ctx, region, key, cfg.Tasks.SigningKeyFile, log); err != nil {
		nc.Close()
		return nil, err
	}
	log.Info("standing by for the region's lease", "region", cfg.Region, "lease_ttl", cfg.HA.TTL())
	cctx, stop := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchKey(cctx, stop, region, key, cfg.Tasks.SigningKeyFile, log)
	}()
	term, err := region.Campaign(cctx)
	stop(nil)
	<-watched
	if cause := context.Cause(cctx); errors.Is(cause, ha.ErrKeyMismatch) {
		if term != nil {
			term.Resign()
		}
		nc.Close()
		return nil, cause
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("ha: %w", err)
	}
	log.Info("holding the region's lease: acting scheduler", "epoch", term.Epoch())
	return &leadership{nc: nc, term: term, log: log, configured: key}, nil
}

// connectNATS connects, retrying until ctx ends (nil, nil then): a
// standby started before the cluster waits for it.
func connectNATS(ctx context.Context, urls string, opts []nats.Option, log *slog.Logger) (*nats.Conn, error) {
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		nc, err := nats.Connect(urls, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			return nil, fmt.Errorf("ha: NATS refused the scheduler's credentials: %w", err)
		}
		log.Warn("NATS cluster unreachable; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
	}
}

func usesTLS(urls []string) bool {
	for _, u := range urls {
		if strings.HasPrefix(u, "tls://") {
			return true
		}
	}
	return false
}

// bind returns a context that ends with ctx or, with cause ErrDeposed,
// when the term is lost — before the lease can have run out, so nothing
// this scheduler does overlaps its successor.
func (l *leadership) bind(ctx context.Context) context.Context {
	ctx, l.cancel = context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.term.Lost():
			l.lost.Store(true)
			l.log.Error("region lease lost: stopping at once", "epoch", l.term.Epoch())
			l.cancel(ErrDeposed)
		case <-ctx.Done():
		}
	}()
	return ctx
}

// store opens the task store in the region's replicated stream, fenced
// on this term's epoch.
func (l *leadership) store(ctx context.Context, log *slog.Logger) (*taskengine.Store, taskengine.Loaded, error) {
	b, err := l.term.Backend(ctx)
	if err != nil {
		return nil, taskengine.Loaded{}, fmt.Errorf("ha: task store: %w", err)
	}
	st, ld, err := taskengine.OpenStoreOn(b, log)
	if err != nil {
		_ = b.Close()
		return nil, taskengine.Loaded{}, fmt.Errorf("ha: task store: %w", err)
	}
	return st, ld, nil
}

// deposed reports whether the term was lost: the scheduler then sends
// nothing more (not even its goodbye; its successor speaks for the region).
func (l *leadership) deposed() bool { return l != nil && l.lost.Load() }

// epoch is the term's epoch, stamped on everything the scheduler sends;
// 0 without high availability.
func (l *leadership) epoch() uint64 {
	if l == nil {
		return 0
	}
	return l.term.Epoch()
}

// close ends the term: a scheduler that stops cleanly resigns, so a
// standby takes over at once rather than after the lease's time.
func (l *leadership) close() {
	if l == nil {
		return
	}
	if !l.lost.Load() {
		l.term.Resign()
		l.log.Info("region lease resigned", "epoch", l.term.Epoch())
	}
	if l.cancel != nil {
		l.cancel(nil)
	}
	l.nc.Close()
}
