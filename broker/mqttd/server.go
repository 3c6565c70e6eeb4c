package mqttd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/logging"
)

// Server is Tether's embedded MQTT broker: mochi-mqtt with Tether's
// credentials, ACL, listeners and sizing.
//
//	New ──▶ Run(ctx) ──binds, serves──▶ Ready() closed ──ctx done──▶ shutdown ──▶ Run returns
//
// Run may be called once. Addr and TLSAddr are valid once Ready is closed.
type Server struct {
	opts   Options
	log    *slog.Logger
	mochi  *mqtt.Server
	policy *policy
	creds  atomic.Pointer[Credentials] // nil when there is no credentials file
	tls    *tlsFiles                   // nil without a TLS listener
	hook   *authHook
	flow   *flowHook

	started atomic.Bool
	ready   chan struct{}
	plain   *listener // set before ready is closed, read after
	secure  *listener
}

// New checks opts, loads the credentials and TLS files, and builds the
// broker. It opens no socket: Run does.
func New(opts Options) (*Server, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:   opts,
		log:    safeLogger(opts.Logger.With("component", "mqttd")),
		policy: newPolicy(opts.Region, opts.SchedulerUsers, opts.MonitorUsers, opts.OperatorUsers).withDiscovery(opts.DiscoveryPrefix),
		ready:  make(chan struct{}),
	}
	if opts.CredentialsFile != "" {
		c, err := LoadCredentials(opts.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("mqttd: %w", err)
		}
		s.creds.Store(c)
	}
	if opts.TLSAddr != "" {
		t, err := newTLSFiles(opts.CertFile, opts.KeyFile, opts.ClientCAFile)
		if err != nil {
			return nil, err
		}
		s.tls = t
	}

	s.mochi = mqtt.New(&mqtt.Options{
		Capabilities:             capabilities(opts),
		ClientNetWriteBufferSize: opts.WriteBufferSize,
		ClientNetReadBufferSize:  opts.ReadBufferSize,
		Logger:                   s.log,
		// $SYS topics are readable by no Tether role, and each publish runs
		// runtime.ReadMemStats; mochi's default is every second.
		SysTopicResendInterval: 60,
	})
	s.hook = &authHook{
		policy: s.policy, creds: &s.creds, anonymous: opts.AllowAnonymous,
		sessions:        s.mochi.Clients,
		schedulerPacket: opts.MaxPacketSize,
		retained:        newRetainedQuota(opts.MaxRetainedPerClient, opts.MaxRetainedBytesPerClient),
		maxSubs:         opts.MaxSubscriptionsPerClient,
	}
	if err := s.mochi.AddHook(s.hook, nil); err != nil {
		return nil, fmt.Errorf("mqttd: %w", err)
	}
	// After the auth hook: its OnPacketRead answers with the client's ids.
	if err := s.mochi.AddHook(newPacketIDHook(s.mochi), nil); err != nil {
		return nil, fmt.Errorf("mqttd: %w", err)
	}
	retained := &retainIndex{}
	if err := s.mochi.AddHook(&retainIndexHook{x: retained}, nil); err != nil {
		return nil, fmt.Errorf("mqttd: %w", err)
	}
	if err := s.mochi.AddHook(newRetainedHook(s.mochi, retained, s.hook, s.log), nil); err != nil {
		return nil, fmt.Errorf("mqttd: %w", err)
	}
	s.flow = newFlowHook(s.mochi, min(opts.MaxInflight, opts.MaxPendingWrites),
		func(cl *mqtt.Client) bool { return s.policy.roleOf(string(cl.Properties.Username)) != roleScheduler },
		func(cl *mqtt.Client) bool {
			r := s.policy.roleOf(string(cl.Properties.Username))
			return r != roleMonitor && r != roleOperator
		},
		logging.NewEvery(s.log, 10*time.Second))
	if err := s.mochi.AddHook(s.flow, nil); err != nil {
		return nil, fmt.Errorf("mqttd: %w", err)
	}
	if r := opts.Receiver; r != nil {
		if r.srv != nil {
			return nil, errors.New("mqttd: a receiver serves one broker")
		}
		r.srv, r.retained, r.brokerStop = s.mochi, retained, make(chan struct{})
		if err := s.mochi.AddHook(&receiverHook{r: r, fail: logging.NewEvery(s.log, 10*time.Second)}, nil); err != nil {
			return nil, fmt.Errorf("mqttd: %w", err)
		}
	}
	return s, nil
}

// capabilities sizes mochi; the reasoning is next to each Options field.
func capabilities(o Options) *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumClients = o.MaxClients
	if c.MaximumClients == 0 {
		c.MaximumClients = math.MaxInt64
	}
	c.MaximumClientWritesPending = int32(o.MaxPendingWrites)
	c.MaximumInflight = uint16(o.MaxInflight)
	c.MaximumPacketSize = uint32(o.MaxPacketSize)
	c.MaximumSessionExpiryInterval = uint32(o.SessionExpiry.Seconds())
	// MaximumMessageExpiryInterval MUST stay 0. mochi's default (86400)
	// deletes every retained message a day after it was published, however
	// it was published, and a node's birth is retained for as long as the
	// node lives. With 0 mochi enforces no expiry at all (retained, inflight
	// and offline-queued messages); only an MQTT 5 publisher's own Message
	// Expiry Interval applies [MQTT-3.3.2-5]. A huge value instead of 0
	// would overflow mochi's int64 "now + interval" arithmetic.
	c.MaximumMessageExpiryInterval = 0
	return c
}

// connLimits are the listeners' limits; -1 in Options means none (0).
func (s *Server) connLimits() connLimits {
	return connLimits{
		timeout:         s.opts.ConnectTimeout,
		maxConnect:      s.opts.MaxConnectSize,
		maxPacket:       s.opts.MaxClientPacketSize,
		maxPending:      max(s.opts.MaxUnauthenticated, 0),
		maxPendingPerIP: max(s.opts.MaxUnauthenticatedPerAddr, 0),
	}
}

// Ready is closed when the listeners are bound and serving.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound address of the plain listener, or nil if there is none
// or Run has not made it ready yet.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
	default:
		return nil
	}
	if s.plain == nil {
		return nil
	}
	return s.plain.addr()
}

// TLSAddr is the bound address of the TLS listener, or nil.
func (s *Server) TLSAddr() net.Addr {
	select {
	case <-s.ready:
	default:
		return nil
	}
	if s.secure == nil {
		return nil
	}
	return s.secure.addr()
}

// Reload re-reads the credentials file and the TLS certificate, key and
// client CAs. Connected clients keep their sessions, except a node's or an
// enrolment identity's whose user is no longer in the file: it is
// disconnected (a revoked node is cut off, and its next CONNECT is
// refused). The new files apply to new connections. On error nothing
// changes. The caller decides when (SIGHUP, an enrolment, a revocation).
func (s *Server) Reload() error {
	var c *Credentials
	if s.opts.CredentialsFile != "" {
		var err error
		if c, err = LoadCredentials(s.opts.CredentialsFile); err != nil {
			return fmt.Errorf("mqttd: reload: %w", err)
		}
	}
	if s.tls != nil {
		if err := s.tls.load(); err != nil {
			return fmt.Errorf("mqttd: reload: %w", err)
		}
	}
	if c != nil {
		s.creds.Store(c)
		cut := s.disconnectRemoved(c)
		s.log.Info("reloaded credentials", "users", c.Len(), "disconnected", cut)
	}
	return nil
}

// disconnectRemoved disconnects every connected node and enrolment
// identity whose user c no longer has, and returns how many. Without
// AllowAnonymous only: there a user outside the file may connect anyway.
func (s *Server) disconnectRemoved(c *Credentials) int {
	if s.opts.AllowAnonymous {
		return 0
	}
	n := 0
	for _, cl := range s.mochi.Clients.GetAll() {
		user := string(cl.Properties.Username)
		if cl.Net.Inline || cl.Closed() || c.Has(user) {
			continue
		}
		if r := s.policy.roleOf(user); r != roleNode && r != roleEnrol {
			continue
		}
		s.log.Info("disconnecting a client whose user was removed", "client", cl.ID, "user", user)
		if cl.Properties.ProtocolVersion == 5 {
			_ = s.mochi.DisconnectClient(cl, packets.ErrNotAuthorized)
		} else {
			cl.Stop(packets.ErrNotAuthorized)
		}
		n++
	}
	return n
}

// Run binds the listeners, serves until ctx is done, then closes every
// connection and waits for the goroutines it started. It returns nil after a
// shutdown asked for by ctx, or the error that kept it from serving.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("mqttd: Run called twice")
	}
	var ls []*listener
	closeAll := func() {
		for _, l := range ls {
			l.closeSocket()
		}
	}
	if s.opts.Addr != "" {
		l, err := newListener("tcp", s.opts.Addr, nil, s.connLimits(), s.log)
		if err != nil {
			return err
		}
		s.plain = l
		ls = append(ls, l)
		if !isLoopback(s.opts.Addr) {
			s.log.Warn("plain MQTT listener is not on loopback: passwords cross it unencrypted", "addr", l.Address())
		}
	}
	if s.opts.TLSAddr != "" {
		l, err := newListener("tls", s.opts.TLSAddr, s.tls.listenerConfig(), s.connLimits(), s.log)
		if err != nil {
			closeAll()
			return err
		}
		s.secure = l
		ls = append(ls, l)
	}
	for _, l := range ls {
		if err := s.mochi.AddListener(l); err != nil {
			closeAll()
			return fmt.Errorf("mqttd: %w", err)
		}
	}
	if err := s.mochi.Serve(); err != nil {
		closeAll()
		return fmt.Errorf("mqttd: %w", err)
	}
	close(s.ready)
	s.log.Info("serving", "region", s.opts.Region, "addr", s.Addr(), "tls_addr", s.TLSAddr(), "mtls", s.opts.ClientCAFile != "")

	<-ctx.Done()

	// Close every socket and wait for every connection goroutine first, so
	// mochi's Close finds nothing left to wait for (its WaitGroup would
	// otherwise race with connections accepted during shutdown). Held
	// publishers (flow control's, the receiver's) let go first: their
	// goroutines are among those waited for.
	s.flow.close()
	if r := s.opts.Receiver; r != nil {
		close(r.brokerStop)
	}
	for _, l := range ls {
		l.shutdown()
	}
	if err := s.mochi.Close(); err != nil {
		return fmt.Errorf("mqttd: close: %w", err)
	}
	s.log.Info("stopped")
	return nil
}
