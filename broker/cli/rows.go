package cli

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// rowsQuiet is how long `nodes` waits for more rows once the summary is in
// and rows stopped coming, before it prints what it has with a warning. A
// broker sends a subscription's retained messages back to back, so a pause
// this long means it sent them all (even on a loaded machine).
const rowsQuiet = 2 * time.Second

// rowCollector gathers the scheduler's status, the fleet summary and the
// nodes' rows retained on their topics, as the broker replays them on
// subscribe. While the scheduler is online, only the rows it published
// count: a broker that keeps retained messages across restarts may still
// hold rows an earlier run left for nodes the running one has not heard
// from yet.
type rowCollector struct {
	mu      sync.Mutex // guards status, summary, rows and listed
	status  *protocol.SchedulerStatus
	summary *protocol.FleetSummary
	rows    map[string]protocol.FleetRow
	listed  int           // rows that current returns, kept as they come: counting on every row would be quadratic
	news    chan struct{} // 1-buffered: something arrived
}

func newRowCollector() *rowCollector {
	return &rowCollector{rows: map[string]protocol.FleetRow{}, news: make(chan struct{}, 1)}
}

func (c *rowCollector) onStatus(m session.Message) {
	st, err := protocol.DecodeSchedulerStatus(m.Payload)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.status = &st
	c.listed = 0
	for _, r := range c.rows {
		if c.lists(r) {
			c.listed++
		}
	}
	c.mu.Unlock()
	c.signal()
}

// lists reports whether current returns r. c.mu must be held.
func (c *rowCollector) lists(r protocol.FleetRow) bool {
	return c.status == nil || c.status.State != protocol.StateOnline || r.Scheduler == c.status.Instance
}

// current returns the rows of the scheduler now online, or all when it is
// not. c.mu must be held.
func (c *rowCollector) current() []protocol.FleetNode {
	out := make([]protocol.FleetNode, 0, len(c.rows))
	for _, r := range c.rows {
		if c.lists(r) {
			out = append(out, r.FleetNode)
		}
	}
	return out
}

func (c *rowCollector) signal() {
	select {
	case c.news <- struct{}{}:
	default:
	}
}

func (c *rowCollector) onSummary(m session.Message) {
	s, err := protocol.DecodeFleetSummary(m.Payload)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.summary = &s
	c.mu.Unlock()
	c.signal()
}

// onRow keeps a row whose topic names its node; an empty retained message
// (a cleared row) or a bad one is skipped.
func (c *rowCollector) onRow(topics protocol.Topics, m session.Message) {
	r, err := protocol.DecodeFleetRow(m.Payload)
	if err != nil || topics.FleetRow(r.Node) != m.Topic {
		return
	}
	c.mu.Lock()
	if old, ok := c.rows[r.Node]; ok && c.lists(old) {
		c.listed--
	}
	c.rows[r.Node] = r
	if c.lists(r) {
		c.listed++
	}
	c.mu.Unlock()
	c.signal()
}

func (c *rowCollector) expected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.summary == nil {
		return 0
	}
	return c.summary.Nodes
}

// wait returns the fleet once the scheduler's status and the summary are
// in with as many rows as the summary counts nodes (complete), or once rows stop coming for rowsQuiet after the
// summary (not complete). ok is false when no summary came before ctx
// ended.
func (c *rowCollector) wait(ctx context.Context) (f protocol.FleetNodes, complete, ok bool) {
	quiet := time.NewTimer(rowsQuiet)
	defer quiet.Stop()
	for {
		c.mu.Lock()
		have, sum, st := c.listed, c.summary, c.status
		c.mu.Unlock()
		if sum != nil && st != nil && have >= sum.Nodes {
			return c.table(), true, true
		}
		select {
		case <-c.news:
			if !quiet.Stop() {
				select {
				case <-quiet.C:
				default:
				}
			}
			quiet.Reset(rowsQuiet)
		case <-quiet.C:
			if sum != nil {
				return c.table(), false, true
			}
			quiet.Reset(rowsQuiet)
		case <-ctx.Done():
			if sum != nil {
				return c.table(), false, true
			}
			return protocol.FleetNodes{}, false, false
		}
	}
}

// table is the rows as one fleet table, sorted by node, stamped with the
// summary's time.
func (c *rowCollector) table() protocol.FleetNodes {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := protocol.FleetNodes{V: protocol.Version, TS: c.summary.TS, Nodes: c.current()}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Node < t.Nodes[j].Node })
	return t
}
