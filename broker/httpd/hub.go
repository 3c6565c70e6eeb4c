package httpd

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// The hub keeps the dashboard's copy of the fleet rows and the recent
// tasks, and fans changes out to the live (SSE) clients. Its work per tick
// is the changes, not the fleet: the fleet's rows come from a drain of the
// nodes changed since the last tick, tasks as the scheduler announces
// their statuses, and each client is sent one encoded delta shared by all
// clients. A new client gets the whole view once, as its first event.
//
// A client that cannot take a delta (its buffer of clientBuffer events is
// full) is disconnected; its browser reconnects and starts again from a
// snapshot. So a slow client costs the others nothing and memory stays
// bounded.

// maxTasks bounds the tasks the dashboard holds: when more are known, the
// finished one updated longest ago goes first.
const maxTasks = 1000

// clientBuffer is the deltas a client may be behind by: 8 ticks, 4 s at
// the default tick.
const clientBuffer = 8

// DefaultTick is how often changes are sent: a node going offline shows
// within a tick of the scheduler noticing.
const DefaultTick = 500 * time.Millisecond

// TaskView is a task as the dashboard shows it: its status without the
// spec and result, with its attempts.
type TaskView = task.Status

// Summary counts the rows the dashboard holds.
type Summary struct {
	Nodes     int `json:"nodes"`
	Online    int `json:"online"`
	Throttled int `json:"throttled"`
}

// event is one message to the clients: a snapshot (Full) or a delta.
type event struct {
	Full    bool                 `json:"full,omitempty"`
	Summary Summary              `json:"summary"`
	Nodes   []protocol.FleetNode `json:"nodes,omitempty"`
	Tasks   []TaskView           `json:"tasks,omitempty"`
	// Gone lists tasks the dashboard stopped holding (maxTasks).
	Gone []string `json:"gone,omitempty"`
}

type hub struct {
	drain func(func(protocol.FleetNode))
	tick  time.Duration

	mu      sync.Mutex // guards everything below
	rows    map[string]protocol.FleetNode
	tasks   map[string]TaskView
	pending map[string]TaskView // task statuses not yet sent
	clients map[chan []byte]struct{}
	sum     Summary
	closed  bool // run has returned: new clients get the snapshot and the end
}

func newHub(seed []protocol.FleetNode, drain func(func(protocol.FleetNode)), tick time.Duration) *hub {
	h := &hub{drain: drain, tick: tick, rows: make(map[string]protocol.FleetNode, len(seed)),
		tasks: map[string]TaskView{}, pending: map[string]TaskView{}, clients: map[chan []byte]struct{}{}}
	for _, r := range seed {
		h.rows[r.Node] = r
	}
	h.sum = h.count()
	return h
}

// count recounts the summary over the rows; h.mu must be held. It is one
// pass over the fleet per tick with changes, shared by every client.
func (h *hub) count() Summary {
	s := Summary{Nodes: len(h.rows)}
	for _, r := range h.rows {
		if r.Online {
			s.Online++
			if r.Throttled {
				s.Throttled++
			}
		}
	}
	return s
}

// taskChanged takes a task's latest status.
func (h *hub) taskChanged(st task.Status) {
	st.Spec, st.Result = nil, nil
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.pending[st.Task]; ok && st.OlderThan(&old) {
		return
	}
	if old, ok := h.tasks[st.Task]; ok && st.OlderThan(&old) {
		return
	}
	h.pending[st.Task] = st
}

// subscribe registers a client and returns its channel, already holding
// the snapshot, and the function that unregisters it.
func (h *hub) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, clientBuffer+1)
	h.mu.Lock()
	ev := event{Full: true, Summary: h.sum, Nodes: make([]protocol.FleetNode, 0, len(h.rows)), Tasks: make([]TaskView, 0, len(h.tasks))}
	for _, r := range h.rows {
		ev.Nodes = append(ev.Nodes, r)
	}
	for _, t := range h.tasks {
		ev.Tasks = append(ev.Tasks, t)
	}
	closed := h.closed
	if !closed {
		h.clients[ch] = struct{}{}
	}
	h.mu.Unlock()
	sort.Slice(ev.Nodes, func(i, j int) bool { return ev.Nodes[i].Node < ev.Nodes[j].Node })
	b, _ := json.Marshal(ev) // rows and statuses are plain data: they encode
	ch <- b
	if closed {
		close(ch)
		return ch, func() {}
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.clients[ch]; ok {
			delete(h.clients, ch)
			close(ch)
		}
	}
}

// clients is how many live clients there are.
func (h *hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// run sends the changes every tick until ctx ends, then disconnects every
// client.
func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.closed = true
			for ch := range h.clients {
				delete(h.clients, ch)
				close(ch)
			}
			h.mu.Unlock()
			return
		case <-t.C:
			h.step()
		}
	}
}

// step gathers what changed since the last step and sends it to every
// client as one shared delta.
func (h *hub) step() {
	var ev event
	if h.drain != nil {
		h.drain(func(r protocol.FleetNode) { ev.Nodes = append(ev.Nodes, r) })
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range ev.Nodes {
		h.rows[r.Node] = r
	}
	for id, st := range h.pending {
		h.tasks[id] = st
		ev.Tasks = append(ev.Tasks, st)
	}
	clear(h.pending)
	ev.Gone = h.trimTasks()
	if len(ev.Nodes) == 0 && len(ev.Tasks) == 0 && len(ev.Gone) == 0 {
		return
	}
	if len(ev.Nodes) > 0 {
		h.sum = h.count()
	}
	ev.Summary = h.sum
	if len(h.clients) == 0 {
		return
	}
	b, _ := json.Marshal(ev)
	for ch := range h.clients {
		select {
		case ch <- b:
		default: // too far behind: it starts again from a snapshot
			delete(h.clients, ch)
			close(ch)
		}
	}
}

// trimTasks drops the tasks over maxTasks, finished ones updated longest
// ago first, and returns their ids; h.mu must be held.
func (h *hub) trimTasks() []string {
	over := len(h.tasks) - maxTasks
	if over <= 0 {
		return nil
	}
	all := make([]TaskView, 0, len(h.tasks))
	for _, t := range h.tasks {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool {
		fi, fj := task.Terminal(all[i].State), task.Terminal(all[j].State)
		if fi != fj {
			return fi
		}
		return all[i].Updated.Before(all[j].Updated)
	})
	gone := make([]string, 0, over)
	for _, t := range all[:over] {
		delete(h.tasks, t.Task)
		gone = append(gone, t.Task)
	}
	return gone
}
