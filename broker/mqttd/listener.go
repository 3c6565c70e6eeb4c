package mqttd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
//   - every connection has a deadline for its TLS handshake and CONNECT
//     (mochi sets none until CONNECT is read, so an idle socket would pin a
//     goroutine forever and block mochi's Close);
//   - the first packet's declared size is checked before mochi allocates it
//     (connectGuard);
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
	timeout   time.Duration
	maxFirst  int
	log       *slog.Logger

	ctx    context.Context // cancelled by shutdown: aborts TLS handshakes
	cancel context.CancelFunc
	served chan struct{}  // closed when Serve returns
	wg     sync.WaitGroup // per-connection goroutines

	mu      sync.Mutex // guards conns and closing
	conns   map[net.Conn]struct{}
	closing bool
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id, addr string, tlsConfig *tls.Config, timeout time.Duration, maxFirst int, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqttd: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		id:        id,
		ln:        ln,
		tlsConfig: tlsConfig,
		timeout:   timeout,
		maxFirst:  maxFirst,
		log:       log.With("listener", id),
		ctx:       ctx,
		cancel:    cancel,
		served:    make(chan struct{}),
		conns:     map[net.Conn]struct{}{},
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
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Error("accept failed; listener stopped", "error", err)
			}
			return
		}
		if !l.track(raw) {
			raw.Close()
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.untrack(raw)
			l.handle(raw, establish)
		}()
	}
}

// handle runs one connection: deadline, TLS handshake, then mochi.
func (l *listener) handle(raw net.Conn, establish listeners.EstablishFn) {
	remote := raw.RemoteAddr().String()
	if l.timeout > 0 {
		// Covers the TLS handshake and CONNECT; mochi replaces it with the
		// keepalive deadline once CONNECT is read.
		_ = raw.SetDeadline(time.Now().Add(l.timeout))
	}
	var c net.Conn = raw
	if l.tlsConfig != nil {
		tc := tls.Server(raw, l.tlsConfig)
		if err := tc.HandshakeContext(l.ctx); err != nil {
			l.log.Info("TLS handshake failed", "remote", remote, "error", err)
			raw.Close()
			return
		}
		c = tc
	}
	c = &guardedConn{Conn: c, guard: connectGuard{max: l.maxFirst}}
	if err := establish(l.id, c); err != nil {
		l.log.Debug("connection closed", "remote", remote, "error", err)
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.conns[c] = struct{}{}
	return true
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

// guardedConn is the connection mochi sees. It checks the first packet's
// fixed header before mochi reads it.
type guardedConn struct {
	net.Conn
	guard connectGuard // touched only by the reading goroutine
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.guard.done {
		if gerr := c.guard.feed(p[:n]); gerr != nil {
			return 0, gerr // mochi closes the connection
		}
	}
	return n, err
}

// errConnectTooLarge is returned to mochi in place of a first packet whose
// declared length is over the limit.
var errConnectTooLarge = errors.New("mqttd: first packet larger than MaxConnectSize")

// connectGuard parses the fixed header of a connection's first packet (one
// type byte and a 1–4 byte remaining length [MQTT-2.2.3]) from the byte
// stream and refuses it when the declared length exceeds max. mochi
// allocates a packet's declared length before reading it, bounded only by
// MaxPacketSize, which must admit the scheduler's 16 MiB fleet table; so
// without this an unauthenticated client could make the broker allocate
// 16 MiB per connection with five bytes.
type connectGuard struct {
	max   int
	pos   int // header bytes seen
	mult  int
	value int
	done  bool
}

func (g *connectGuard) feed(b []byte) error {
	for _, x := range b {
		if g.done {
			return nil
		}
		g.pos++
		if g.pos == 1 { // packet type; mochi refuses non-CONNECT itself
			g.mult = 1
			continue
		}
		g.value += int(x&0x7f) * g.mult
		if g.value > g.max {
			return errConnectTooLarge
		}
		if x&0x80 == 0 {
			g.done = true
			return nil
		}
		if g.pos == 5 { // malformed length; mochi rejects it
			g.done = true
			return nil
		}
		g.mult *= 128
	}
	return nil
}
