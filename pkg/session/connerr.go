package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ConnectKind says why a connect attempt failed, so that a person is told
// what to fix rather than only that it did not work.
type ConnectKind int

const (
	// ConnectOther is any other failure (DNS, TLS, a reset).
	ConnectOther ConnectKind = iota
	// ConnectRefused: the broker answered the CONNECT with a refusal for
	// the user name or password (CONNACK return code 4 or 5).
	ConnectRefused
	// ConnectNothingListening: the host refused the TCP connection.
	ConnectNothingListening
	// ConnectTimeout: no answer (TCP or CONNACK) within ConnectTimeout.
	ConnectTimeout
)

// ConnectError is a failed connect attempt to Broker.
type ConnectError struct {
	Broker string
	Kind   ConnectKind
	Err    error
}

func (e *ConnectError) Error() string {
	switch e.Kind {
	case ConnectRefused:
		return "not authorised: check the user and password"
	case ConnectNothingListening:
		return "nothing listening at " + e.hostPort()
	case ConnectTimeout:
		return fmt.Sprintf("no answer from %s: %v", e.hostPort(), e.Err)
	}
	return fmt.Sprintf("connecting to %s: %v", e.hostPort(), e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

func (e *ConnectError) hostPort() string {
	if u, _, err := parseBroker(e.Broker); err == nil {
		return u.Host
	}
	return e.Broker
}

// connectError classifies err, the failure of a connect attempt to broker.
func connectError(broker string, err error) error {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return err
	}
	kind := ConnectOther
	var ne net.Error
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		kind = ConnectRefused
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = ConnectNothingListening
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind = ConnectTimeout
	}
	return &ConnectError{Broker: broker, Kind: kind, Err: err}
}
