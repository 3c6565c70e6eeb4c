package serve

import (
	"slices"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// The fleet view's budget: the rows whose only changes are measurements
// (due at the row refresh or the idle one) go out while the bytes the
// view published stay within config.FleetRowBudget percent of the bytes
// of node messages the scheduler received, or rowBudgetFloor a second,
// whichever is more. Rows that changed state, and every row after a new
// connection to the broker, go out regardless (and count against it);
// the summary, one a fleet interval at most, is outside it.
// Held rows go oldest-due first on a later pass. So at any fleet size a
// monitor of tether/v1/<region>/# receives at most that share more than
// the node messages, outside of state changes such as a mass reconnect;
// a small site, whose rows fit the floor, sees every refresh on time.
const (
	// rowBudgetFloor: 2 KiB/s, five or six rows a second.
	rowBudgetFloor = 2 << 10
	// rowBudgetBurst: the least the budget may save up, in bytes.
	rowBudgetBurst = 64 << 10
	// rowEstimate: the size a row not yet published is taken to have.
	rowEstimate = 400
)

// rowBudget is the bytes the fleet view may still publish. Only
// publishLoop's goroutine uses it.
type rowBudget struct {
	tokens float64   // may go below zero: state rows are never held
	seen   int64     // scheduler.nodeBytes at the last fill
	at     time.Time // the last fill (monotonic)
}

// fill adds the share pct of the node bytes received since the last fill
// (nodeBytes is the running total), at least rowBudgetFloor a second of
// the time since, and keeps at most 10 s of that rate or
// rowBudgetBurst, whichever is more.
func (b *rowBudget) fill(now time.Time, nodeBytes int64, pct float64) {
	if b.at.IsZero() {
		b.tokens, b.seen, b.at = rowBudgetBurst, nodeBytes, now
		return
	}
	el := max(now.Sub(b.at).Seconds(), 0)
	add := max(float64(max(nodeBytes-b.seen, 0))*pct/100, el*rowBudgetFloor)
	limit := float64(rowBudgetBurst)
	if el > 0 {
		limit = max(limit, 10*add/el)
	}
	b.tokens = min(b.tokens+add, limit)
	b.seen, b.at = nodeBytes, now
}

// spend takes n bytes published.
func (b *rowBudget) spend(n int) { b.tokens -= float64(n) }

// dueRow is a row held back until at.
type dueRow struct {
	id string
	at time.Time
}

// releaseDue moves the rows due by now into v.fresh: every one whose
// state changed, and those with only new measurements, oldest-due first,
// while the budget lasts (pct 0: no budget). It returns when a held row
// is next due (zero: none is) and how many due rows the budget held.
func (s *scheduler) releaseDue(v *views, now time.Time, pct float64) (next time.Time, held int) {
	ready := v.ready[:0]
	for id, at := range v.due {
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		ready = append(ready, dueRow{id, at})
	}
	slices.SortFunc(ready, func(a, b dueRow) int { return a.at.Compare(b.at) })
	left := v.budget.tokens
	for _, d := range ready {
		n, ok := s.fleet.Get(d.id)
		if !ok {
			delete(v.due, d.id)
			continue
		}
		row := fleet.Row(n)
		if p, seen := v.last[d.id]; pct > 0 && seen && onlyMeasured(p.row, row) {
			if left <= 0 {
				held++
				continue
			}
			left -= float64(p.size)
		}
		delete(v.due, d.id)
		v.fresh[d.id] = row
	}
	v.ready = ready[:0]
	if held > 0 {
		if at := now.Add(s.cfg.FleetInterval); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, held
}

// onlyMeasured reports whether b, the row now, differs from a, the row
// last published, in its measurements only.
func onlyMeasured(a, b protocol.FleetNode) bool {
	return a.Online == b.Online && a.Reason == b.Reason && stateOf(a) == stateOf(b)
}

// messageSize is what a message costs a monitor, as the budget counts
// it: its topic and payload.
func messageSize(m session.Message) int { return len(m.Topic) + len(m.Payload) }

// countNodeBytes adds a live node message to the budget's base.
func (s *scheduler) countNodeBytes(m session.Message) {
	if !m.Retained {
		s.nodeBytes.Add(int64(messageSize(m)))
	}
}
