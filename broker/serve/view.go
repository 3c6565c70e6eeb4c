package serve

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// The fleet view is a small retained summary plus one retained row per
// node (protocol.FleetRow on fleet/nodes/<node>), each published when it
// changes: a monitor gets what changed, not the whole fleet every second,
// and a new monitor gets every row from the broker's retained store.

// minUrgentGap spaces publications caused by online-state changes: a
// restart of many agents at once becomes a few passes, not thousands.
const minUrgentGap = 100 * time.Millisecond

// How long a changed row waits, from its previous publication:
//
//   - a change of online state or reason: the next pass (minUrgentGap);
//   - another change of state (facts, duplicate, gaps, throttled, disk
//     full, first metrics): one fleet interval;
//   - a measurement that moved past its band (moved: the bands of the
//     agent's own change-only filter, about the smallest move that would
//     change a placement) or the node's missing, duplicate or outbox
//     loss counts: config.RowRefresh, 60 fleet intervals (1 min) by
//     default;
//   - only what moves with every report — last seen, seq, the time of
//     the measurement, readings within their bands, link sample counts:
//     config.RowIdleRefresh, 5 row refreshes (5 min) by default;
//
// and the rows of the last two kinds also keep to the budget
// (rowbudget.go). Every report moves a row's last seen and seq, so before
// the idle rule every node's row went out once a minute: 19.5 % of what
// a monitor of tether/v1/<region>/# received at 1,000 and 10,000
// load-generator sessions (docs/benchmarks.md). An online row's last
// seen says little (the node would be offline after its heartbeat and
// grace); a monitor that wants every reading subscribes to the reports.

// rowWindow bounds the rows published and not yet acknowledged.
const rowWindow = 256

// rowTimeout bounds how long a row waits for its acknowledgement, from
// its publish (a variable so a test can shorten it).
var rowTimeout = 10 * time.Second

// views is publishLoop's record of the rows it published. Only
// publishLoop's goroutine uses it.
type views struct {
	epoch uint64                        // the connection the rows were published on
	last  map[string]published          // node → its row as last published
	due   map[string]time.Time          // nodes with changes held back, and when they may go
	fresh map[string]protocol.FleetNode // scratch: rows to publish in this pass
	ready []dueRow                      // scratch: releaseDue's
	// budget paces the rows with only new measurements (rowbudget.go).
	budget rowBudget
	// announced: nodes whose Home Assistant discovery configs are out, with
	// the model and version they named (discovery.go).
	announced map[string]string
}

type published struct {
	row  protocol.FleetNode
	at   time.Time
	size int // its topic and payload, in bytes
}

// publishLoop publishes the retained summary and rows: soon after a node's
// online state changes (minUrgentGap), at most once per FleetInterval for
// new metrics, and at least once a minute so a monitor sees the
// scheduler's clock move.
func (s *scheduler) publishLoop(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	v := &views{last: map[string]published{}, due: map[string]time.Time{}, fresh: map[string]protocol.FleetNode{}, announced: map[string]string{}}
	var last, due time.Time // due is zero when nothing is scheduled
	schedule := func(at time.Time) {
		if !due.IsZero() && !at.Before(due) {
			return
		}
		due = at
		timer.Reset(max(0, time.Until(at)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.fleet.Urgent():
			schedule(last.Add(minUrgentGap))
		case <-s.fleet.Changed():
			schedule(last.Add(s.cfg.FleetInterval))
		case <-tick.C:
			schedule(time.Now())
		case <-timer.C:
			due = time.Time{}
			if !s.sess.Connected() {
				continue // onConnect publishes when the session is back
			}
			last = time.Now()
			if next := s.publishFleet(ctx, v, last); !next.IsZero() {
				schedule(next)
			}
		}
	}
}

// publishFleet publishes the summary and the rows that are due, and
// returns when held-back rows are next due (zero: none are).
func (s *scheduler) publishFleet(ctx context.Context, v *views, now time.Time) time.Time {
	reconnected := false
	if e := s.viewEpoch.Load(); e != v.epoch {
		reconnected = true
		// A new connection: the broker may have lost what it retained
		// (a restart without persistence), so every row goes again; and
		// the single table older schedulers retained is cleared.
		v.epoch = e
		clear(v.last)
		clear(v.due)
		s.fleet.MarkAll(fleet.ForView)
		s.publish(ctx, session.Message{Topic: s.topics.FleetNodes(), QoS: 1, Retained: true})
	}
	v.budget.fill(now, s.nodeBytes.Load(), s.cfg.FleetRowBudget)
	sum := s.fleet.Summary()
	if b, err := json.Marshal(sum); err != nil {
		s.log.Error("fleet summary does not encode", "err", err)
	} else {
		s.publish(ctx, session.Message{Topic: s.topics.FleetSummary(), QoS: 1, Retained: true, Payload: b})
	}
	gap, refresh, idle := s.cfg.FleetInterval, s.cfg.RowRefresh(), s.cfg.RowIdleRefresh()
	clear(v.fresh)
	s.fleet.Drain(fleet.ForView, func(n fleet.Node) {
		row := fleet.Row(n)
		p, ok := v.last[n.ID]
		switch {
		case !ok:
			v.fresh[n.ID] = row
		case p.row.Online != row.Online || p.row.Reason != row.Reason:
			// A node coming or going is what a monitor watches for: it
			// goes out on this pass (passes are minUrgentGap apart), not
			// a fleet interval after the row's last publication.
			delete(v.due, n.ID)
			v.fresh[n.ID] = row
		case stateOf(p.row) != stateOf(row):
			v.hold(n.ID, p.at.Add(gap))
		case moved(p.row, row):
			v.hold(n.ID, p.at.Add(refresh))
		case !sameRow(p.row, row):
			v.hold(n.ID, p.at.Add(idle))
		}
	})
	next, held := s.releaseDue(v, now, s.cfg.FleetRowBudget)
	s.rowsHeld.Store(int64(held))
	if retry := s.publishRows(ctx, v, now); !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
		next = retry
	}
	s.publishDiscovery(ctx, v.announced, reconnected)
	return next
}

// hold keeps a node's changed row back until at (or earlier, if already
// held for an earlier time).
func (v *views) hold(id string, at time.Time) {
	if d, ok := v.due[id]; !ok || at.Before(d) {
		v.due[id] = at
	}
}

// publishRows publishes v.fresh with up to rowWindow in flight. A row
// that is not valid or does not encode is left out, counted and logged
// (rate-limited): one node's bad values never stop the others' rows.
//
// A row counts as published (v.last) only once the broker acknowledged
// it; one it did not (the embedded broker refuses a scheduler's message
// that a full persistent session would have to take, and the connection
// may end) is held for a fleet interval and published again; publishRows
// returns when (zero: none failed). Each row's wait is bounded from its
// own publish, so a window of unanswered rows costs one timeout, not one
// per row.
func (s *scheduler) publishRows(ctx context.Context, v *views, now time.Time) (retry time.Time) {
	ts := now.UTC().Truncate(time.Millisecond)
	type pending struct {
		id       string
		f        *session.Inflight
		deadline time.Time
	}
	var window []pending
	failed, lastErr := 0, error(nil)
	wait := func(p pending) {
		wctx, cancel := context.WithDeadline(ctx, p.deadline)
		defer cancel()
		if err := p.f.Wait(wctx); err != nil {
			delete(v.last, p.id)
			at := time.Now().Add(s.cfg.FleetInterval)
			v.hold(p.id, at)
			if retry.IsZero() || at.Before(retry) {
				retry = at
			}
			failed, lastErr = failed+1, err
		}
	}
	for id, row := range v.fresh {
		r := protocol.FleetRow{V: protocol.Version, TS: ts, Scheduler: s.instance, FleetNode: row}
		b, err := json.Marshal(r)
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			s.fleet.BadRow()
			s.badRows.Warn("fleet row left out: the node's values do not encode", "node", id, "err", err)
			v.last[id] = published{row: row, at: now, size: rowEstimate} // not again until it changes
			continue
		}
		m := session.Message{Topic: s.topics.FleetRow(id), QoS: 1, Retained: true, Payload: b}
		f, err := s.sess.PublishAsync(m)
		if err != nil {
			// Not connected: the next connection publishes every row.
			s.log.Warn("fleet rows not published", "err", err)
			break
		}
		v.last[id] = published{row: row, at: now, size: messageSize(m)}
		v.budget.spend(messageSize(m))
		if window = append(window, pending{id, f, time.Now().Add(rowTimeout)}); len(window) >= rowWindow {
			wait(window[0])
			window = window[1:]
		}
	}
	for _, p := range window {
		wait(p)
	}
	if failed > 0 {
		s.log.Warn("fleet rows not acknowledged; publishing them again", "rows", failed, "err", lastErr)
	}
	return retry
}

func (s *scheduler) publish(ctx context.Context, m session.Message) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.sess.Publish(pctx, m); err != nil {
		s.log.Warn("fleet view not published", "topic", m.Topic, "err", err)
	}
}

// rowState is a row without its measurements, and whether it has any:
// what a monitor should see within a fleet interval when it changes (a
// node's first metrics included).
type rowState struct {
	row      protocol.FleetNode
	measured bool
}

func stateOf(r protocol.FleetNode) rowState {
	st := rowState{measured: r.CPU != nil || r.MemPct != nil || r.TempC != nil || r.Outbox != nil || r.Link != nil}
	r.CPU, r.MemPct, r.TempC, r.Outbox, r.Link = nil, nil, nil, nil, nil
	r.LastSeen, r.Measured = time.Time{}, time.Time{}
	r.ClockSkewMS, r.Seq, r.Missing, r.Dups = 0, 0, 0, 0
	st.row = r
	return st
}

// sameRow reports whether two rows say the same.
func sameRow(a, b protocol.FleetNode) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return stateOf(a) == stateOf(b) && eq(a.CPU, b.CPU) && eq(a.MemPct, b.MemPct) && eq(a.TempC, b.TempC) &&
		a.LastSeen.Equal(b.LastSeen) && a.Measured.Equal(b.Measured) && a.ClockSkewMS == b.ClockSkewMS &&
		a.Seq == b.Seq && a.Missing == b.Missing && a.Dups == b.Dups &&
		(a.Outbox == nil) == (b.Outbox == nil) && (a.Outbox == nil || *a.Outbox == *b.Outbox) &&
		(a.Link == nil) == (b.Link == nil) && (a.Link == nil || *a.Link == *b.Link)
}
