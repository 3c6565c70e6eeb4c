package mqttd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is a mochi listener over a socket this package bound itself, so
// that:
//
//   - the bound address is known before anything is served (Addr on :0);
//   - an accept error never stops it: it backs off (5 ms doubling to 1 s,
//     like net/http) and accepts again, so running out of file descriptors
//     lasts only as long as the descriptors are taken; only closing the
//     socket ends Serve;
//   - connections that have not authenticated yet are limited, in total and
//     per source address; one over a limit is closed at once;
//   - every connection has a deadline for its TLS handshake and CONNECT
//     (mochi sets none until CONNECT is read, so an idle socket would pin a
//     goroutine forever and block mochi's Close);
//   - every packet's declared size is checked before mochi allocates it
//     (guardedConn);
//   - every connection and goroutine is owned: shutdown closes all sockets
//     and waits for every per-connection goroutine, which mochi's own
//     listeners do not (their Close races with accepted-but-unregistered
//     connections).
//
// Lifecycle: newListener binds → mochi calls Init, then Serve in a goroutine
// it starts → shutdown closes the socket and every connection, then waits
// for Serve and every connection goroutine to return. mochi's Close(CloseFn)
// is then a no-op apart from telling mochi's clients.
type listener struct {
	id        string
	ln        net.Listener
	tlsConfig *tls.Config // nil for plain TCP
	limits    connLimits
	log       *slog.Logger

	ctx    context.Context // cancelled by shutdown: aborts TLS handshakes and accept backoff
	cancel context.CancelFunc
	served chan struct{}  // closed when Serve returns
	wg     sync.WaitGroup // per-connection goroutines

	mu      sync.Mutex // guards conns, closing, pending and perAddr
	conns   map[net.Conn]struct{}
	closing bool
	pending int            // connections not authenticated yet
	perAddr map[string]int // pending by source IP; entries at 0 are deleted
}

// connLimits are a listener's per-connection limits (see Options).
type connLimits struct {
	timeout         time.Duration // TLS handshake + CONNECT
	maxConnect      int           // first packet
	maxPacket       int           // later packets, until a scheduler authenticates
	maxPending      int           // unauthenticated connections; 0: no limit
	maxPendingPerIP int           // the same per source IP; 0: no limit
}

// Accept backoff, as net/http's Server.Serve: a failing accept (out of file
// descriptors, a connection aborted in the queue) is retried after 5 ms,
// doubling to at most 1 s while it keeps failing.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

var _ listeners.Listener = (*listener)(nil)

func newListener(id, addr string, tlsConfig *tls.Config, limits connLimits, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err // net.Listen names the address: "listen tcp ADDR: …"
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		id:        id,
		ln:        ln,
		tlsConfig: tlsConfig,
		limits:    limits,
		log:       log.With("listener", id),
		ctx:       ctx,
		cancel:    cancel,
		served:    make(chan struct{}),
		conns:     map[net.Conn]struct{}{},
		perAddr:   map[string]int{},
	}, nil
}

func (l *listener) ID() string              { return l.id }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }
func (l *listener) Init(*slog.Logger) error { return nil }
func (l *listener) addr() net.Addr          { return l.ln.Addr() }

// Serve accepts connections until the socket is closed. mochi runs it in a
// goroutine of its own; served tells shutdown when it has returned.
func (l *listener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	var delay time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			l.log.Error("accept failed; retrying", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		ip := remoteIP(raw)
		switch admitted, closing := l.admit(raw, ip); {
		case closing:
			raw.Close()
			return
		case !admitted:
			l.log.Warn("refused connection: too many unauthenticated connections", "remote", raw.RemoteAddr().String(),
				"limit", l.limits.maxPending, "limit_per_address", l.limits.maxPendingPerIP)
			raw.Close()
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.untrack(raw)
			l.handle(raw, ip, establish)
		}()
	}
}

// handle runs one connection: deadline, TLS handshake, then mochi.
func (l *listener) handle(raw net.Conn, ip string, establish listeners.EstablishFn) {
	gc := newGuardedConn(raw, l.limits.maxConnect, l.limits.maxPacket, func() { l.unpend(ip) })
	defer gc.free() // a connection that never authenticated
	remote := raw.RemoteAddr().String()
	if l.limits.timeout > 0 {
		// Covers the TLS handshake and CONNECT; mochi replaces it with the
		// keepalive deadline once CONNECT is read.
		_ = raw.SetDeadline(time.Now().Add(l.limits.timeout))
	}
	if l.tlsConfig != nil {
		tc := tls.Server(raw, l.tlsConfig)
		if err := tc.HandshakeContext(l.ctx); err != nil {
			l.log.Info("TLS handshake failed", "remote", remote, "err", err)
			raw.Close()
			return
		}
		gc.Conn = tc
	}
	if err := establish(l.id, gc); err != nil {
		l.log.Debug("connection closed", "remote", remote, "err", err)
	}
}

// admit tracks a new connection and counts it as unauthenticated, unless a
// limit is reached (admitted false) or the listener is shutting down.
func (l *listener) admit(c net.Conn, ip string) (admitted, closing bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false, true
	}
	if lim := l.limits.maxPending; lim > 0 && l.pending >= lim {
		return false, false
	}
	if lim := l.limits.maxPendingPerIP; lim > 0 && l.perAddr[ip] >= lim {
		return false, false
	}
	l.pending++
	l.perAddr[ip]++
	l.conns[c] = struct{}{}
	return true, false
}

// unpend ends a connection's unauthenticated time: it authenticated, or it
// ended without.
func (l *listener) unpend(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending--
	if l.perAddr[ip]--; l.perAddr[ip] <= 0 {
		delete(l.perAddr, ip)
	}
}

// pendingCount is the number of unauthenticated connections.
func (l *listener) pendingCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// remoteIP is the source address a connection is counted under.
func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// Close is mochi's hook to stop the listener: it tells mochi to disconnect
// the listener's clients, then stops accepting. The sockets are closed and
// waited for by shutdown.
func (l *listener) Close(closeClients listeners.CloseFn) {
	closeClients(l.id)
	l.ln.Close()
}

// shutdown stops accepting, closes every connection and waits until Serve
// and all connection goroutines have returned. It is idempotent.
func (l *listener) shutdown() {
	l.cancel()
	l.ln.Close()
	l.mu.Lock()
	l.closing = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	<-l.served
	l.wg.Wait()
}

// closeSocket closes the listening socket of a listener that was never
// served (New succeeded for one listener and failed for the next).
func (l *listener) closeSocket() {
	l.cancel()
	l.ln.Close()
}
