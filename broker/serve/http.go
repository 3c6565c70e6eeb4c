package serve

import (
	"context"
	"errors"
	"time"

	"github.com/tether-edge/tether/broker/httpd"
)

// newHTTP makes the scheduler's HTTP listener (http.listen), or nil when
// none is configured. Readiness: the scheduler has connected to its broker
// once (subscribed, fleet and tasks loaded) and is connected now.
func (s *scheduler) newHTTP(broker embedded) (*httpd.Server, error) {
	if s.cfg.HTTP.Listen == "" {
		return nil, nil
	}
	o := httpd.Options{
		Addr: s.cfg.HTTP.Listen, Logger: s.log.With("component", "http"), Fleet: s.fleet,
		PerNodeLimit: s.cfg.HTTP.PerNodeLimit, Pprof: s.cfg.HTTP.Pprof, Dashboard: s.dashboardOptions(),
		NodeTier: func(id string) string {
			if n, ok := s.fleet.Get(id); ok && n.Facts != nil {
				return n.Facts.Tier
			}
			return ""
		},
		Tasks: func() httpd.TaskStats {
			ctx, cancel := context.WithTimeout(context.Background(), httpTasksTimeout)
			defer cancel()
			return httpd.TaskStats{ByState: s.tasks.Counts(ctx), Unplaced: s.tasks.Unplaced(), Unplaceable: s.tasks.Unplaceable(), Preempted: s.tasks.Preempted()}
		},
		Ready: func() error {
			switch {
			case !s.readyOnce.Load():
				return errors.New("not yet connected to the broker")
			case !s.sess.Connected():
				return errors.New("disconnected from the broker")
			case !s.sess.Subscribed():
				return errors.New("a subscription is refused by the broker (retrying)")
			case s.self.failing.Load():
				return errors.New("the scheduler's own messages do not come back through the broker (self_probe; redialing)")
			}
			return nil
		},
		SelfProbe: func() (uint64, uint64) { return s.self.misses.Load(), s.self.redials.Load() },
		RowsHeld:  s.rowsHeld.Load,
	}
	if s.lead != nil {
		o.Leader = func() (bool, uint64) {
			if s.lead.deposed() {
				return false, 0
			}
			return true, s.lead.epoch()
		}
	}
	if broker != nil {
		o.Broker = func() httpd.BrokerStats {
			st := broker.Stats()
			return httpd.BrokerStats{
				ClientsConnected: st.ClientsConnected, ClientsDisconnected: st.ClientsDisconnected,
				MessagesReceived: st.MessagesReceived, MessagesSent: st.MessagesSent, MessagesDropped: st.MessagesDropped,
				BytesReceived: st.BytesReceived, BytesSent: st.BytesSent, Retained: st.Retained, Inflight: st.Inflight,
				Refused: st.Refused,
			}
		}
	}
	return httpd.New(o)
}

// httpTasksTimeout bounds how long a scrape waits for the task engine.
const httpTasksTimeout = 2 * time.Second
