// Package session is Tether's MQTT session over paho, shared by the agent and
// the scheduler: persistent sessions with a stable client id, failover across
// several broker URLs, reconnects with capped exponential backoff and jitter,
// a will composed afresh for every connection, subscriptions restored and a
// birth hook run on every connect, bounded waits on every token, and a
// goodbye published before a clean disconnect.
//
// Only MQTT 3.1.1 features are used, so any broker works: the embedded one,
// Mosquitto, or a cluster.
package session

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/backoff"
)

// Message is an MQTT application message.
type Message struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
	// Ack acknowledges the message to the broker (a QoS 1 PUBACK). It is
	// set for a message of a SubscribeDeferred subscription, whose handler
	// owns the acknowledgement and may call it later, from any goroutine;
	// nil otherwise (the session acknowledges when the handlers return).
	// Calling it more than once, or after the connection is gone, does
	// nothing: an unacknowledged message of a persistent session is
	// delivered again on the next connection.
	Ack func()
}

// Options configure a Session. Zero fields take the defaults below.
type Options struct {
	// Brokers are tried in turn: tcp://host:1883 (or mqtt://), and
	// tls://, ssl:// or mqtts://host:8883 for TLS.
	Brokers  []string
	ClientID string
	Username string
	Password string
	// TLS is used for TLS broker URLs; nil means the system roots.
	TLS *tls.Config

	// KeepAlive is the MQTT keepalive; the broker declares the client dead
	// after 1.5× this without a packet [MQTT-3.1.2-24]. Default 30 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds dialing plus the CONNECT/CONNACK exchange.
	// Default 10 s.
	ConnectTimeout time.Duration
	// OpTimeout bounds every other token wait: publish, subscribe.
	// Default 10 s.
	OpTimeout time.Duration
	// CleanSession false (the default) keeps the broker-side session, so
	// QoS 1 commands sent while the client was away are delivered on return.
	CleanSession bool
	// HealthyAfter is how long a connection must last before the backoff
	// starts again from its minimum. It keeps two clients that share a
	// client id, and so take the session from each other, from looping
	// fast. Default 30 s.
	HealthyAfter time.Duration
	Backoff      backoff.Policy

	// Will, if set, is called before every connection attempt; its message
	// is registered as the will of that connection.
	Will func() *Message
	// OnConnect is called after every successful connect, once the
	// subscriptions are in place; publish the birth here. It runs on the
	// session's own goroutine and must not block for long.
	OnConnect func(s *Session)
	// OnSubscribed, if set, is called once per connection when every
	// subscription is in force: right after OnConnect, or later, from
	// another goroutine, when a subscription the broker refused at first
	// is granted on a retry. It must not block for long.
	OnSubscribed func(s *Session)
	// Goodbye, if set, is called when Run's context ends while connected;
	// its message is published (bounded by OpTimeout) before the clean
	// DISCONNECT, which suppresses the will [MQTT-3.1.2-10].
	Goodbye func() *Message

	Logger *slog.Logger
}

const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultOpTimeout      = 10 * time.Second
	DefaultHealthyAfter   = 30 * time.Second
)

func (o *Options) ensureDefaults() {
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.HealthyAfter <= 0 {
		o.HealthyAfter = DefaultHealthyAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports options that cannot work, in words a user can act on.
func (o *Options) Validate() error {
	if len(o.Brokers) == 0 {
		return errors.New("no broker URL: set at least one, e.g. tcp://scheduler.local:1883")
	}
	for _, b := range o.Brokers {
		if _, _, err := parseBroker(b); err != nil {
			return err
		}
	}
	if o.ClientID == "" {
		return errors.New("client id is empty")
	}
	if len(o.ClientID) > 65535 {
		return errors.New("client id is longer than MQTT allows")
	}
	return nil
}

// parseBroker returns the URL and whether it asks for TLS.
func parseBroker(raw string) (*url.URL, bool, error) {
	full := raw
	if !strings.Contains(raw, "://") {
		full = "tcp://" + raw // HOST:PORT, as people write it
	}
	u, err := url.Parse(full)
	if err != nil || u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		return nil, false, fmt.Errorf("broker %q is not HOST:PORT or a URL: write it as HOST:1883, tcp://HOST:1883 or tls://HOST:8883", raw)
	}
	if u.Host == "" {
		return nil, false, fmt.Errorf("broker URL %q has no host: write it as tcp://HOST:1883 or tls://HOST:8883", raw)
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		if u.Port() == "" {
			u.Host += ":1883"
		}
		return u, false, nil
	case "tls", "ssl", "mqtts":
		if u.Port() == "" {
			u.Host += ":8883"
		}
		return u, true, nil
	default:
		return nil, false, fmt.Errorf("broker URL %q: scheme %q is not one of tcp, mqtt, tls, ssl, mqtts", raw, u.Scheme)
	}
}
