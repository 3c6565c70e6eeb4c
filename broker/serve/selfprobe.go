package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// The self-probe checks that the scheduler's connection still carries its
// messages both ways. Every self_probe interval the scheduler publishes a
// reply (QoS 1) to its own replies topic, which it subscribes to, and
// waits up to the interval for it to come back. A connection can be alive
// to the keepalive and carry nothing: in a CI run a NATS node restarted
// seconds before took a submission from the scheduler's connection and
// delivered neither its reply nor the task's retained status, nor the same
// submission asked again 55 s later through another node (the cause inside
// NATS is not known). After selfProbeMisses probes in a row that
// did not come back, the scheduler drops the connection and connects to
// the next broker (session.Redial); the session's persistent state, the
// unpublished task statuses and the fleet view go with it as after any
// reconnect.

// selfProbeMisses is how many probes in a row must fail before the
// connection is dropped: one late probe is load, two are a connection
// that does not deliver. A probe late while the intake queue is nearly
// full does not count: the scheduler itself holds its connection back.
// With the embedded broker the nodes' messages do not come through the
// session, so nothing holds the probe up but the broker.
const selfProbeMisses = 2

// selfProbe counts what the probe saw, for /metrics and /readyz.
type selfProbe struct {
	misses  atomic.Uint64 // probes that did not come back in time
	redials atomic.Uint64 // connections dropped for it
	failing atomic.Bool   // the last probe did not come back
}

// selfProbeLoop probes every cfg.SelfProbe while connected; 0 turns it off.
func (s *scheduler) selfProbeLoop(ctx context.Context) {
	every := s.cfg.SelfProbe
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.sess.Connected() || !s.sess.Subscribed() {
			missed = 0 // a new connection starts afresh
			continue
		}
		broker := s.sess.Broker()
		err := s.probeSelf(ctx, every)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if s.self.failing.Swap(false) {
				s.log.Info("self-probe: the scheduler's own messages come back again", "broker", broker)
			}
			missed = 0
			continue
		}
		if s.sess.Broker() != broker {
			missed = 0 // the connection changed under the probe: judge the new one afresh
			continue
		}
		if s.intake != nil && s.intake.backlogged() {
			// The receive path holds the connection back (flow control):
			// a busy connection, not a deaf one. Dropping it would only
			// add a reconnect to the load.
			s.log.Debug("self-probe late behind a full intake queue: not counted", "broker", broker)
			continue
		}
		missed++
		s.self.misses.Add(1)
		s.self.failing.Store(true)
		s.log.Warn("self-probe: the scheduler's own message did not come back", "broker", broker, "err", err, "in_a_row", missed)
		if missed >= selfProbeMisses {
			s.self.redials.Add(1)
			s.log.Error("self-probe: the broker no longer delivers the scheduler's messages: connecting to the next broker",
				"broker", broker, "probes_missed", missed)
			s.sess.Redial(fmt.Errorf("%d self-probes in a row did not come back", missed))
			missed = 0
		}
	}
}

// probeSelf publishes one probe and waits up to within for it.
func (s *scheduler) probeSelf(ctx context.Context, within time.Duration) error {
	var b [8]byte
	rand.Read(b[:])
	id := "selfprobe-" + hex.EncodeToString(b[:])
	payload, err := json.Marshal(task.Reply{V: task.Version, RequestID: id, OK: true})
	if err != nil {
		return err
	}
	back, done := s.replies.await(id)
	defer done()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := s.sess.Publish(ctx, session.Message{Topic: s.topics.Reply(s.cfg.Username, id), QoS: 1, Payload: payload}); err != nil {
		return fmt.Errorf("not published: %w", err)
	}
	select {
	case <-back:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("not back within %v", within)
	}
}
