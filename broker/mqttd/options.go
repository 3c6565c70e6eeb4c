package mqttd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// Options configure the embedded broker. The zero value plus Region and
// CredentialsFile is a working loopback broker; every other field has a
// default, filled in one place (ensureDefaults).
//
// The sizing defaults are chosen for a region of up to ~10k Raspberry Pis
// whose agents speak MQTT 3.1.1, send a few small JSON messages a minute and
// receive rare commands, plus one scheduler that subscribes to the whole
// region. Memory per connected client, heap plus goroutine stacks, is ~36 KiB
// with these defaults against ~95 KiB with mochi's own (BenchmarkClientMemory;
// the difference is mostly the pending-writes channel, allocated in full at
// connect): ~360 MB instead of ~950 MB for 10k Pis, before the Go runtime's
// overhead (RSS was measured at ~150 MB for 1k and ~1.4 GB for 10k clients
// with mochi's defaults).
type Options struct {
	// Addr is the plain-TCP listener, host:port. Default "127.0.0.1:1883".
	// Empty means no plain listener, which is allowed only when TLSAddr is
	// set. Passwords cross a plain listener in clear text: bind it to
	// loopback or a trusted network and give the fleet TLSAddr.
	Addr string

	// TLSAddr is the TLS listener, host:port (conventionally :8883). Empty
	// means none. It needs CertFile and KeyFile.
	TLSAddr string

	// CertFile and KeyFile are the server's PEM certificate chain and key.
	CertFile string
	KeyFile  string

	// ClientCAFile, when set, makes the TLS listener REQUIRE a client
	// certificate that chains to one of the PEM CAs in this file (mutual
	// TLS). Clients still authenticate with a username and password.
	ClientCAFile string

	// CredentialsFile is a Mosquitto password file (`user:$7$...` lines,
	// see LoadCredentials). Required unless AllowAnonymous.
	CredentialsFile string

	// AllowAnonymous lets clients in without a password: a client with no
	// username becomes a read-only monitor; a client whose username is not
	// in CredentialsFile (or when there is no file) gets that username's
	// role unchecked. It exists for development and tests, and Validate
	// refuses it unless the only listener is a plain one on loopback.
	AllowAnonymous bool

	// Region is the region this broker serves (protocol.ValidateID). Roles
	// are scoped to tether/v1/<Region>/.
	Region string

	// SchedulerUsers may publish and subscribe anything under
	// tether/v1/<Region>/#. MonitorUsers may subscribe anything under
	// tether/v1/# and publish nothing. Every other user is a node whose
	// node id is its username. Names must pass protocol.ValidateID and may
	// not appear in both lists.
	SchedulerUsers []string
	MonitorUsers   []string
	// OperatorUsers read what monitors read and may publish task
	// submissions and control requests (tether-broker submit, cancel);
	// the scheduler replies on tether/v1/<Region>/replies/<user>/….
	OperatorUsers []string
	// DiscoveryPrefix, when set, is Home Assistant's discovery prefix
	// (e.g. "homeassistant"): the scheduler may publish below it and
	// monitors and operators may read it (docs/protocol.md).
	DiscoveryPrefix string

	// MaxClients bounds concurrent connections; more are refused with
	// "server unavailable". Default 0: no limit (mochi's default), since a
	// region's size is bounded by its credentials file.
	MaxClients int64

	// MaxPendingWrites is the number of outbound packets queued per client
	// before mochi drops new ones for that client (mochi
	// MaximumClientWritesPending, default there 8192). In Tether's copy of
	// mochi (pkg/third_party/mochi) the queue holds only what waits, so a
	// node that receives a command now and then costs nothing for it; the
	// bound is what a slow monitor may accumulate. The retained messages a
	// new subscription matches do not go through this queue: they are
	// written as the connection takes them (retained.go), so none is
	// dropped however many there are.
	MaxPendingWrites int

	// MaxInflight bounds unacknowledged QoS 1/2 messages stored per client
	// session (mochi MaximumInflight, default 8192). It is also the offline
	// queue of a persistent session: commands to a Pi that is away are kept
	// here until it returns or the session expires. Default 1024: at
	// protocol.MaxMessage (64 KiB) a message that is at most 64 MiB for one
	// session in the worst case, ~1 MiB for real commands.
	MaxInflight int

	// MaxPacketSize bounds every packet a client sends (mochi
	// MaximumPacketSize, 0 there = unlimited). Default is
	// protocol.MaxFleetMessage + 64 KiB, so the scheduler's retained
	// fleet/nodes table fits. mochi allocates a packet's declared size
	// before reading it, so an authenticated client can make the broker
	// allocate this much per packet; before CONNECT is accepted the much
	// smaller MaxConnectSize applies instead (enforced by this package).
	MaxPacketSize int

	// MaxClientPacketSize bounds every packet, after CONNECT, of a client
	// that is not a scheduler: nodes, monitors and operators. Default
	// task.MaxMessage + 4 KiB (260 KiB): the largest Tether messages a node
	// or operator sends are task events and submissions, at most
	// task.MaxMessage; status and metrics are at most protocol.MaxMessage
	// (64 KiB). A larger packet closes
	// the connection before the broker allocates it, so a client holding a
	// node's or a monitor's password cannot make the broker allocate
	// MaxPacketSize per packet.
	MaxClientPacketSize int

	// MaxUnauthenticated bounds the connections that are accepted but have
	// not been authenticated yet (TLS handshake and CONNECT under way), per
	// listener; MaxUnauthenticatedPerAddr bounds them per source IP. A
	// connection over either limit is closed at once. Each such connection
	// costs a file descriptor, a goroutine and, with TLS, a handshake's
	// state until ConnectTimeout; without the limits bare TCP connections
	// exhaust the process's file descriptors. Defaults 1024 and 64: a
	// restart of the broker has thousands of Pis reconnecting, but each
	// needs a slot only for the milliseconds its handshake takes, and a site
	// behind one NAT address rarely has 64 handshakes at once. -1: no limit.
	MaxUnauthenticated        int
	MaxUnauthenticatedPerAddr int

	// MaxRetainedPerClient and MaxRetainedBytesPerClient bound the retained
	// messages a client other than the scheduler holds on the broker: how
	// many topics, and their payloads' total size. A retained publish over
	// either quota is refused (MQTT 5: PUBACK 0x97; MQTT 3.1.1: PUBACK,
	// dropped). A node retains its status (protocol.MaxMessage at most);
	// defaults 4 and 256 KiB. Retained messages live until overwritten,
	// however long ago their publisher left, so without a quota a node
	// could park unbounded memory on the broker.
	MaxRetainedPerClient      int
	MaxRetainedBytesPerClient int

	// MaxSubscriptionsPerClient bounds the topic filters a client other
	// than a scheduler holds at once; a filter over it is refused in the
	// SUBACK (0x80). A node holds two or three, a monitor or dashboard a
	// handful; the broker's subscription tree would otherwise grow with
	// every filter a client sends (a SUBSCRIBE of 256 KiB carries
	// thousands). Default 128; -1: no limit.
	MaxSubscriptionsPerClient int

	// MaxConnectSize bounds the first packet (CONNECT, including the will
	// message) of a connection that has not authenticated yet. Default
	// protocol.MaxMessage + 4 KiB: a will is a node's status message.
	MaxConnectSize int

	// ReadBufferSize is each client's bufio.Reader size (mochi
	// ClientNetReadBufferSize, default 2 KiB), allocated at connect. Tether
	// messages are 0.3–3 KiB, so 2 KiB reads most in one syscall.
	ReadBufferSize int

	// WriteBufferSize is the threshold at which mochi flushes coalesced
	// writes when a client has a backlog (mochi ClientNetWriteBufferSize,
	// default 2 KiB); the buffer exists only while a backlog does.
	WriteBufferSize int

	// SessionExpiry is how long the session (subscriptions and queued QoS 1
	// messages) of a disconnected clean-session=false client is kept (mochi
	// MaximumSessionExpiryInterval, default there ~136 years). Default 7
	// days: a Pi that is off for a long weekend gets its commands; one that
	// is gone for good stops costing memory. An MQTT 5 client may ask for
	// less, never more.
	SessionExpiry time.Duration

	// ConnectTimeout bounds the TLS handshake plus CONNECT of a new
	// connection; after CONNECT the client's keepalive (×1.5) governs.
	// Default 10s.
	ConnectTimeout time.Duration

	// Receiver, when set, takes the messages of its topic filters in this
	// process, each applied before the broker acknowledges it (see
	// Receiver). The scheduler beside the embedded broker receives the
	// fleet's traffic this way instead of over an MQTT session. A receiver
	// serves one broker.
	Receiver *Receiver

	// Logger receives the broker's logs, as a child with component=mqttd.
	// Default: discard.
	Logger *slog.Logger
}

// Defaults, one place. See the field comments for the reasoning.
const (
	DefaultAddr             = "127.0.0.1:1883"
	defaultMaxPendingWrites = 1024
	defaultMaxInflight      = 1024
	defaultMaxPacketSize    = protocol.MaxFleetMessage + 64<<10
	defaultMaxConnectSize   = protocol.MaxMessage + 4<<10
	defaultMaxClientPacket  = task.MaxMessage + 4<<10
	defaultMaxUnauth        = 1024
	defaultMaxUnauthPerAddr = 64
	defaultMaxRetained      = 4
	defaultMaxRetainedBytes = 256 << 10
	defaultMaxSubscriptions = 128
	defaultReadBufferSize   = 2 << 10
	defaultWriteBufferSize  = 2 << 10
	defaultSessionExpiry    = 7 * 24 * time.Hour
	defaultConnectTimeout   = 10 * time.Second
)

// ensureDefaults gives every unset field of o its default.
func (o *Options) ensureDefaults() {
	if o.Addr == "" && o.TLSAddr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxPendingWrites == 0 {
		o.MaxPendingWrites = defaultMaxPendingWrites
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = defaultMaxInflight
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = defaultMaxPacketSize
	}
	if o.MaxConnectSize == 0 {
		o.MaxConnectSize = defaultMaxConnectSize
	}
	if o.MaxClientPacketSize == 0 {
		o.MaxClientPacketSize = defaultMaxClientPacket
	}
	if o.MaxUnauthenticated == 0 {
		o.MaxUnauthenticated = defaultMaxUnauth
	}
	if o.MaxUnauthenticatedPerAddr == 0 {
		o.MaxUnauthenticatedPerAddr = defaultMaxUnauthPerAddr
	}
	if o.MaxRetainedPerClient == 0 {
		o.MaxRetainedPerClient = defaultMaxRetained
	}
	if o.MaxRetainedBytesPerClient == 0 {
		o.MaxRetainedBytesPerClient = defaultMaxRetainedBytes
	}
	if o.MaxSubscriptionsPerClient == 0 {
		o.MaxSubscriptionsPerClient = defaultMaxSubscriptions
	}
	if o.ReadBufferSize == 0 {
		o.ReadBufferSize = defaultReadBufferSize
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = defaultWriteBufferSize
	}
	if o.SessionExpiry == 0 {
		o.SessionExpiry = defaultSessionExpiry
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with o (after defaults) at once.
func (o Options) Validate() error {
	o.ensureDefaults()
	return o.validate()
}

func (o Options) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := protocol.ValidateID("region", o.Region); err != nil {
		add("mqttd: %v: set the region this broker serves", err)
	}
	if o.DiscoveryPrefix != "" {
		if err := protocol.ValidateDiscoveryPrefix(o.DiscoveryPrefix); err != nil {
			add("mqttd: %v", err)
		}
	}
	if o.Addr != "" {
		if err := checkHostPort(o.Addr); err != nil {
			add("mqttd: listen address %q: %v", o.Addr, err)
		}
	}
	if o.TLSAddr != "" {
		if err := checkHostPort(o.TLSAddr); err != nil {
			add("mqttd: TLS listen address %q: %v", o.TLSAddr, err)
		}
		if o.CertFile == "" || o.KeyFile == "" {
			add("mqttd: the TLS listener %s needs a certificate and key file (scripts/gen-certs.sh makes a development pair)", o.TLSAddr)
		}
	} else if o.CertFile != "" || o.KeyFile != "" || o.ClientCAFile != "" {
		add("mqttd: certificate files are set but there is no TLS listen address to use them")
	}
	if o.Addr != "" && o.TLSAddr != "" && o.Addr == o.TLSAddr {
		add("mqttd: the plain and TLS listeners both use %s", o.Addr)
	}

	if o.CredentialsFile == "" && !o.AllowAnonymous {
		add("mqttd: no credentials file: create one with `tether-broker passwd -f FILE add USER` (or mosquitto_passwd), or allow anonymous clients on a loopback listener for development")
	}
	if o.AllowAnonymous {
		if o.TLSAddr != "" {
			add("mqttd: anonymous clients are allowed only on a plain loopback listener, but a TLS listener (%s) is configured", o.TLSAddr)
		}
		if o.Addr != "" && !isLoopback(o.Addr) {
			add("mqttd: anonymous clients are allowed only on a loopback listener, not %s: use 127.0.0.1 or [::1], or a credentials file", o.Addr)
		}
	}

	seen := map[string]string{}
	for _, l := range []struct {
		what  string
		names []string
	}{{"scheduler", o.SchedulerUsers}, {"monitor", o.MonitorUsers}, {"operator", o.OperatorUsers}} {
		for _, u := range l.names {
			if err := protocol.ValidateID(l.what+" user", u); err != nil {
				add("mqttd: %v", err)
				continue
			}
			if prev, ok := seen[u]; ok {
				add("mqttd: user %q is listed as %s and as %s: give each role its own user", u, prev, l.what)
			}
			seen[u] = l.what
		}
	}

	for _, n := range []struct {
		what string
		v    int
		min  int
	}{
		{"MaxPendingWrites", o.MaxPendingWrites, 16},
		{"MaxInflight", o.MaxInflight, 16},
		{"MaxPacketSize", o.MaxPacketSize, 4 << 10},
		{"MaxConnectSize", o.MaxConnectSize, 256},
		{"MaxClientPacketSize", o.MaxClientPacketSize, 256},
		{"MaxUnauthenticated", o.MaxUnauthenticated, -1},
		{"MaxUnauthenticatedPerAddr", o.MaxUnauthenticatedPerAddr, -1},
		{"MaxRetainedPerClient", o.MaxRetainedPerClient, 1},
		{"MaxRetainedBytesPerClient", o.MaxRetainedBytesPerClient, 1},
		{"MaxSubscriptionsPerClient", o.MaxSubscriptionsPerClient, -1},
		{"ReadBufferSize", o.ReadBufferSize, 256},
		{"WriteBufferSize", o.WriteBufferSize, 256},
	} {
		if n.v < n.min {
			add("mqttd: %s is %d; it must be at least %d", n.what, n.v, n.min)
		}
	}
	if o.MaxInflight > 65535 {
		add("mqttd: MaxInflight is %d; MQTT packet ids allow at most 65535", o.MaxInflight)
	}
	if o.MaxPacketSize > 256<<20 {
		add("mqttd: MaxPacketSize is %d; MQTT allows at most 256 MiB", o.MaxPacketSize)
	}
	if o.MaxClientPacketSize > o.MaxPacketSize {
		add("mqttd: MaxClientPacketSize (%d) is larger than MaxPacketSize (%d)", o.MaxClientPacketSize, o.MaxPacketSize)
	}
	if o.MaxConnectSize > o.MaxPacketSize {
		add("mqttd: MaxConnectSize (%d) is larger than MaxPacketSize (%d)", o.MaxConnectSize, o.MaxPacketSize)
	}
	if o.MaxClients < 0 {
		add("mqttd: MaxClients is %d; use 0 for no limit", o.MaxClients)
	}
	if o.SessionExpiry < time.Second || o.SessionExpiry > 136*365*24*time.Hour {
		add("mqttd: SessionExpiry %v is out of range (1s to ~136 years)", o.SessionExpiry)
	}
	if o.ConnectTimeout < 0 {
		add("mqttd: ConnectTimeout %v is negative", o.ConnectTimeout)
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, e.g. 127.0.0.1:1883 or :8883: %w", err)
	}
	if port == "" {
		return errors.New("no port")
	}
	return nil
}

// isLoopback reports whether addr's host is a loopback IP or "localhost".
// An empty host (":1883") means every interface, so it is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
