package session

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// Counters are the bytes a session has moved at the MQTT layer (TCP payload,
// TLS records included when TLS is on), over all its connections.
type Counters struct {
	Sent     atomic.Uint64
	Received atomic.Uint64
}

// countingConn counts bytes through a connection.
type countingConn struct {
	net.Conn
	c *Counters
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.Received.Add(uint64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.Sent.Add(uint64(n))
	return n, err
}

// dial opens the transport to one broker within timeout.
func dial(ctx context.Context, broker string, tlsConf *tls.Config, timeout time.Duration, c *Counters) (net.Conn, error) {
	u, useTLS, err := parseBroker(broker)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// MQTT packets are small and latency matters more than
		// coalescing; Go sets TCP_NODELAY by default, keep it explicit.
		_ = tc.SetNoDelay(true)
	}
	if useTLS {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConf != nil {
			conf = tlsConf.Clone()
		}
		if conf.ServerName == "" {
			conf.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	return countingConn{Conn: conn, c: c}, nil
}
