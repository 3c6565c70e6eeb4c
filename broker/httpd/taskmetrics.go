package httpd

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-edge/tether/pkg/task"
)

// taskMetrics turns the task statuses the scheduler announces into
// latency histograms and placement counters. Every label has a bounded set
// of values: states are the protocol's six, policies and tiers are capped
// at maxLabelValues each (more become "other"), and no label names a node
// or a task. So the series stay a few hundred at any fleet size.
//
// A status can come more than once (the broker redelivers retained
// statuses on a reconnect), so each task's progress is tracked — the
// attempts counted and whether its end was — for at most maxTracked
// tasks, the oldest forgotten first. A status last updated before the
// scheduler started is a baseline, not an observation: its past was
// counted by the process that saw it.
type taskMetrics struct {
	tierOf func(node string) string // nil: "unknown"
	start  time.Time

	total    *prometheus.HistogramVec // submitted → finished, by final state
	wait     prometheus.Histogram     // submitted → first attempt assigned
	attempt  *prometheus.HistogramVec // an attempt's assignment → end, by its last state
	placings *prometheus.CounterVec   // attempts placed, by policy and tier

	mu       sync.Mutex // guards tracked, order, labels
	tracked  map[string]*tracked
	order    []string // tracked's keys, oldest first
	policies map[string]struct{}
	tiers    map[string]struct{}
}

type tracked struct {
	attempts uint32 // attempts placed and counted
	ended    uint32 // attempts whose end was observed
	finished bool
}

const (
	maxTracked     = 20000
	maxLabelValues = 16
)

// latencyBuckets run from 0.1 s to 7.3 h by fours: a task's latency spans
// a sleep of a second to a batch job of hours.
var latencyBuckets = prometheus.ExponentialBuckets(0.1, 4, 10)

func newTaskMetrics(tierOf func(string) string) *taskMetrics {
	return &taskMetrics{
		tierOf: tierOf, start: time.Now(),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tether_task_duration_seconds",
			Help: "From submission to the task's end, by final state.", Buckets: latencyBuckets}, []string{"state"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tether_task_queue_wait_seconds",
			Help: "From submission to the first attempt's assignment.", Buckets: latencyBuckets}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tether_task_attempt_seconds",
			Help: "From an attempt's assignment to its end, by the attempt's last state.", Buckets: latencyBuckets}, []string{"state"}),
		placings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_placements_total",
			Help: "Attempts placed on a node, by placement policy and the node's tier."}, []string{"policy", "tier"}),
		tracked: map[string]*tracked{}, policies: map[string]struct{}{}, tiers: map[string]struct{}{},
	}
}

func (m *taskMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.total, m.wait, m.attempt, m.placings}
}

var knownStates = map[string]bool{task.StatePending: true, task.StateAssigned: true, task.StateRunning: true,
	task.StateSucceeded: true, task.StateFailed: true, task.StateCancelled: true}

func stateLabel(s string) string {
	if knownStates[s] {
		return s
	}
	return "other"
}

// capped returns v, or "other" once set holds maxLabelValues others;
// m.mu must be held.
func capped(set map[string]struct{}, v string) string {
	if _, ok := set[v]; ok {
		return v
	}
	if len(set) >= maxLabelValues {
		return "other"
	}
	set[v] = struct{}{}
	return v
}

// observe takes a task's latest status.
func (m *taskMetrics) observe(st task.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr, ok := m.tracked[st.Task]
	if !ok {
		tr = &tracked{}
		m.tracked[st.Task] = tr
		m.order = append(m.order, st.Task)
		if len(m.order) > maxTracked {
			delete(m.tracked, m.order[0])
			m.order = m.order[1:]
		}
	}
	baseline := st.Updated.Before(m.start)
	policy := "default"
	if st.Spec != nil && st.Spec.Policy != "" {
		policy = st.Spec.Policy
	}
	for _, a := range st.Attempts {
		if a.N <= tr.attempts {
			continue
		}
		tr.attempts = a.N
		if baseline {
			continue
		}
		if a.N == 1 && !a.Assigned.IsZero() {
			m.wait.Observe(a.Assigned.Sub(st.Submitted).Seconds())
		}
		tier := ""
		if m.tierOf != nil {
			tier = m.tierOf(a.Node)
		}
		if tier == "" {
			tier = "unknown"
		}
		m.placings.WithLabelValues(capped(m.policies, policy), capped(m.tiers, tier)).Inc()
	}
	for _, a := range st.Attempts {
		if a.N <= tr.ended || a.Ended.IsZero() {
			continue
		}
		tr.ended = a.N
		if !baseline {
			m.attempt.WithLabelValues(stateLabel(a.State)).Observe(a.Ended.Sub(a.Assigned).Seconds())
		}
	}
	if task.Terminal(st.State) && !tr.finished {
		tr.finished = true
		if !baseline {
			m.total.WithLabelValues(stateLabel(st.State)).Observe(st.Updated.Sub(st.Submitted).Seconds())
		}
	}
}
