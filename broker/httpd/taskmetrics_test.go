package httpd

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/tether-edge/tether/pkg/task"
)

// TestTaskMetricsCountOnce: a status delivered again (a reconnect's
// retained copies) is not counted again; one last updated before the
// scheduler started is a baseline; policies beyond the cap become
// "other".
func TestTaskMetricsCountOnce(t *testing.T) {
	m := newTaskMetrics(func(string) string { return "edge" })
	t0 := m.start.Add(time.Second)
	done := task.Status{Task: "a", State: task.StateSucceeded, Submitted: t0, Updated: t0.Add(3 * time.Second),
		Attempts: []task.Attempt{{N: 1, Node: "pi", Assigned: t0.Add(time.Second), Ended: t0.Add(3 * time.Second), State: task.StateSucceeded}}}
	for range 3 {
		m.observe(done)
	}
	old := done
	old.Task, old.Submitted, old.Updated = "b", m.start.Add(-time.Hour), m.start.Add(-time.Minute)
	m.observe(old)
	// b's retry after the start is counted: its second attempt only.
	old.State, old.Updated = task.StateRunning, t0
	old.Attempts = append(old.Attempts, task.Attempt{N: 2, Node: "pi", Assigned: t0, State: task.StateRunning})
	m.observe(old)
	if n := testutil.CollectAndCount(m.total); n != 1 {
		t.Errorf("%d duration series", n)
	}
	for name, c := range map[string]prometheus.Collector{"duration": m.total, "wait": m.wait, "attempt": m.attempt} {
		if got := histCount(t, c); got != 1 {
			t.Errorf("%s observed %d times, want 1", name, got)
		}
	}
	if got := testutil.ToFloat64(m.placings.WithLabelValues("default", "edge")); got != 2 {
		t.Errorf("%v placements, want 2 (a's attempt and b's retry)", got)
	}
	for i := range maxLabelValues + 5 {
		st := done
		st.Task, st.Spec = fmt.Sprintf("p%d", i), &task.Spec{Policy: fmt.Sprintf("pol%d", i)}
		m.observe(st)
	}
	if n := testutil.CollectAndCount(m.placings); n > maxLabelValues+1 {
		t.Errorf("%d placement series, want at most %d", n, maxLabelValues+1)
	}
	if got := testutil.ToFloat64(m.placings.WithLabelValues("other", "edge")); got == 0 {
		t.Error("policies over the cap are not counted as other")
	}
}

func histCount(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	n := 0
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for mt := range ch {
		out := new(dto.Metric)
		if err := mt.Write(out); err != nil {
			t.Fatal(err)
		}
		if out.Histogram != nil {
			n += int(out.Histogram.GetSampleCount())
		}
	}
	return n
}
