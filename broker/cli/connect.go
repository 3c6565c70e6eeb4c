package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/tether-edge/tether/pkg/session"
)

// awaitConnection waits until sess (whose Run has started) is connected.
// With one broker, a refusal ends the wait at once: a wrong user or
// password, or nothing listening, does not get better by retrying until the
// timeout. Anything else is retried until cf.timeout, and the error then
// says it timed out and what the last attempt met.
func awaitConnection(ctx context.Context, sess *session.Session, cf *clientFlags) error {
	wctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	err := sess.WaitAttempt(wctx)
	if err == nil {
		return nil
	}
	var ce *session.ConnectError
	if errors.As(err, &ce) && len(cf.brokers) == 1 {
		switch ce.Kind {
		case session.ConnectRefused:
			return fmt.Errorf("%s: %w (user %q)", ce.Broker, ce, cf.username)
		case session.ConnectNothingListening:
			return fmt.Errorf("%w: is the broker running, and is --broker right?", ce)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if sess.WaitConnected(wctx) == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	last := "no attempt finished"
	if err := sess.ConnectErr(); err != nil {
		last = "the last attempt: " + err.Error()
	}
	return fmt.Errorf("timed out after %v connecting to %v as %q (%s)", cf.timeout, cf.brokers, cf.username, last)
}
