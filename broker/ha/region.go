package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Options configure Open. The zero value of every field but Region and
// Holder means its default.
type Options struct {
	// Region is the region's id (protocol.ValidateID).
	Region string
	// Holder names this scheduler in the lease; unique per process (a
	// scheduler that finds its own name in the lease takes it back).
	Holder string
	// LeaseTTL is how long a lease outlives its holder's last renewal:
	// the longest a region has no scheduler after one dies. Default 5s;
	// at least 1s (NATS's TTL granularity).
	LeaseTTL time.Duration
	// Replicas is the stream's copies (default 3: a 3-node cluster keeps
	// the region through one node's loss).
	Replicas int
	// Log: default slog.Default().
	Log *slog.Logger
}

// Region is one region's stream, opened by a scheduler. Safe for
// concurrent use.
type Region struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	o      Options
	names  names
	log    *slog.Logger

	mu   sync.Mutex
	term *Term // the live term, nil when none
}

// Open creates the region's stream, or updates its configuration to this
// one.
func Open(ctx context.Context, nc *nats.Conn, o Options) (*Region, error) {
	if err := protocol.ValidateID("region", o.Region); err != nil {
		return nil, err
	}
	if o.Holder == "" {
		return nil, errors.New("ha: holder is empty")
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 5 * time.Second
	}
	if o.LeaseTTL < time.Second {
		return nil, fmt.Errorf("ha: lease TTL %v is under NATS's 1s granularity", o.LeaseTTL)
	}
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	n := namesFor(o.Region)
	cfg := jetstream.StreamConfig{
		Name:               n.stream,
		Subjects:           []string{n.prefix + ".>"},
		Storage:            jetstream.FileStorage,
		Replicas:           o.Replicas,
		MaxMsgsPerSubject:  1,
		AllowMsgTTL:        true,
		AllowAtomicPublish: true,
		Discard:            jetstream.DiscardOld,
	}
	log := o.Log.With("region", o.Region)
	// A request now and then goes unanswered (an update right after another
	// scheduler created the stream did, on a fresh cluster): each attempt
	// has its own timeout, and Open tries until ctx ends.
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := js.CreateOrUpdateStream(actx, cfg)
		cancel()
		if err == nil {
			return &Region{nc: nc, js: js, stream: s, o: o, names: n, log: log}, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ha: stream %s: %w", n.stream, err)
		}
		log.Warn("ha: stream not created or updated; trying again", "stream", n.stream, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// names are a region's stream and subjects.
type names struct {
	stream, prefix, lease, epoch, data, key string
}

// namesFor returns region's names, as natsconf grants them to schedulers.
func namesFor(region string) names {
	p := natsconf.HASubjects(region)
	return names{stream: natsconf.HAStream(region), prefix: p, lease: p + ".lease", epoch: p + ".epoch", data: p + ".s", key: p + ".key"}
}

// lease is the lease message's body.
type lease struct {
	Holder string `json:"holder"`
	Epoch  uint64 `json:"epoch"`
}

// Leader returns the lease's holder ("" when none holds it) and the
// region's epoch (0 before the first term).
func (r *Region) Leader(ctx context.Context) (holder string, epoch uint64, err error) {
	if m, err := r.stream.GetLastMsgForSubject(ctx, r.names.lease); err == nil {
		var l lease
		if err := json.Unmarshal(m.Data, &l); err != nil {
			return "", 0, fmt.Errorf("ha: lease: %w", err)
		}
		holder = l.Holder
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", 0, fmt.Errorf("ha: lease: %w", err)
	}
	epoch, err = r.lastSeq(ctx, r.names.epoch)
	return holder, epoch, err
}

// lastSeq returns subject's last message's stream sequence, 0 when none.
func (r *Region) lastSeq(ctx context.Context, subject string) (uint64, error) {
	m, err := r.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ha: %s: %w", subject, err)
	}
	return m.Sequence, nil
}
