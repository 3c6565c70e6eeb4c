package sim

import (
	"encoding/csv"
	"io"
	"strconv"
)

func ff(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// writeRunsCSV writes one row per run.
func writeRunsCSV(w io.Writer, rs []Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"mix", "load", "staleness_s", "policy", "seed", "tasks", "mean_s", "p50_s",
		"p95_s", "p99_s", "miss", "offload", "cloud_mb", "util_spread", "unstable", "rejected",
		"unfinished", "preempted", "crashes", "events", "unfinished_work", "diverged", "bound_mean_s",
		"bound_p99_s", "bound_miss"})
	for _, r := range rs {
		cw.Write([]string{r.Mix, ff(r.Load), ff(r.Stale), r.Policy, strconv.FormatUint(r.Seed, 10),
			strconv.Itoa(r.Tasks), ff(r.Mean), ff(r.P50), ff(r.P95), ff(r.P99), ff(r.Miss),
			ff(r.Offload), ff(r.CloudMB), ff(r.UtilSpread), strconv.FormatBool(r.Unstable),
			strconv.Itoa(r.Rejected), strconv.Itoa(r.Unfinished), strconv.Itoa(r.Preempted),
			strconv.Itoa(r.Crashes), strconv.Itoa(r.Events), ff(r.UnfinishedWork),
			strconv.FormatBool(r.Diverged), ff(r.Bound.Mean), ff(r.Bound.P99), ff(r.Bound.Miss)})
	}
	cw.Flush()
	return cw.Error()
}

// writeTasksCSV writes one row per task of this run, in submission order.
func (w *world) writeTasksCSV(out io.Writer) error {
	cw := csv.NewWriter(out)
	cw.Write([]string{"id", "app", "arrival_s", "deadline_s", "work", "in_bytes", "out_bytes",
		"source", "node", "tier", "attempts", "state", "done_s", "completion_s", "missed", "measured"})
	for _, j := range w.jobs {
		node, tier := "", ""
		if j.node >= 0 {
			node = w.fleet.Node(j.node).ID
			tier = w.fleet.Node(j.node).Tier.String()
		}
		completion, missed := "", j.state != jsDone || j.late()
		source := "cloud"
		if j.task.Source >= 0 {
			source = w.fleet.Node(j.task.Source).ID
		}
		if j.state == jsDone {
			completion = ff(j.done - j.task.Arrival)
		}
		cw.Write([]string{strconv.FormatUint(j.task.ID, 10), w.apps[j.task.Class].Name,
			ff(j.task.Arrival), ff(j.task.Deadline), ff(j.task.Work), ff(j.task.InBytes),
			ff(j.task.OutBytes), source, node, tier,
			strconv.Itoa(j.attempts), stateNames[j.state], ff(j.done), completion,
			strconv.FormatBool(missed), strconv.FormatBool(j.measured)})
	}
	cw.Flush()
	return cw.Error()
}

var stateNames = [...]string{jsWaiting: "waiting", jsTransfer: "transfer", jsQueued: "queued",
	jsRunning: "running", jsResult: "result", jsDone: "done", jsRejected: "rejected", jsLost: "lost"}
