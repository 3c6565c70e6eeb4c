package serve

import (
	"context"
	"sync"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// route is one of the scheduler's subscriptions: its filter, its handler,
// and whether its publisher may be acknowledged only once what the handler
// applied is committed to the task store. That is so for task events: the
// agent's outbox deletes an event on its PUBACK. Beside the embedded
// broker a submission or control request is acknowledged once applied:
// the broker dies with the scheduler, and the requester learns the outcome
// from the reply, published only after the commit, and asks again without
// one. Over an external broker (intake), tasks marks what is acknowledged
// only once committed — task events and requests — so the broker keeps
// what a scheduler that dies or is deposed had not committed and delivers
// it to the region's next one.
type route struct {
	filter string
	h      session.Handler
	commit bool
	tasks  bool
}

func (s *scheduler) routes() []route {
	return []route{
		{s.topics.AllNodeStatus(), s.onStatus, false, false},
		{s.topics.AllNodeMetrics(), s.onMetrics, false, false},
		{s.topics.TaskSubmit(), s.onSubmit, false, true},
		{s.topics.TaskControl(), s.onControl, false, true},
		{s.topics.AllNodeTasks(), s.onTaskEvent, true, true},
		{s.topics.AllEnrolRequests(), s.onEnrol, false, false},
	}
}

// receiverFilters are the filters of the scheduler's routes in region,
// for the embedded broker's Receiver (made before the scheduler is).
func receiverFilters(topics protocol.Topics) []string {
	s := &scheduler{topics: topics}
	var fs []string
	for _, r := range s.routes() {
		fs = append(fs, r.filter)
	}
	return fs
}

// receive is the scheduler's receive path beside the embedded broker: the
// broker hands it each message on the publisher's own goroutine before it
// acknowledges it (mqttd.Receiver), so a PUBACK means applied:
//   - A node's messages are applied in order, under its node's lock: one
//     connection's arrive in order, and the lock orders a will or a
//     replaced connection's last message against the new one's.
//   - A task event is acknowledged only once committed to the task store
//     (taskengine.Committed; see route), so a SIGKILL of the scheduler, which
//     takes the broker with it, loses no event the broker acknowledged.
//     Fleet state is soft: rebuilt from retained births and fresh reports
//     after a restart.
//   - A slow apply holds only the node whose message it is: no shared
//     queue stands between the broker and the scheduler.
//
// A message that cannot be committed (the scheduler is stopping) is
// refused unacknowledged; its publisher sends it again.
func (s *scheduler) receive(m mqttd.Message) error {
	msg := session.Message{Topic: m.Topic, QoS: 1, Retained: m.Retained, Payload: m.Payload}
	for _, r := range s.routes() {
		if !session.Match(r.filter, m.Topic) {
			continue
		}
		if nt, err := protocol.ParseNodeTopic(m.Topic); err == nil {
			unlock := s.nodeLocks.lock(nt.Node)
			defer unlock()
		}
		r.h(msg)
		if r.commit && !m.Retained {
			return s.tasks.Committed(context.Background())
		}
		return nil
	}
	return nil
}

// nodeLocks is a lock per node id, held while a node's message is applied;
// an entry lives while someone holds or waits for it, so the map is
// bounded by the publishers in flight.
type nodeLocks struct {
	mu sync.Mutex // guards m and every entry's refs
	m  map[string]*nodeLock
}

type nodeLock struct {
	sync.Mutex
	refs int
}

// lock takes id's lock and returns its release.
func (l *nodeLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*nodeLock{}
	}
	e := l.m[id]
	if e == nil {
		e = &nodeLock{}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
