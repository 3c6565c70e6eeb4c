package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one run measured. Durations are from the start of their
// phase; a negative one timed out after its magnitude.
type Result struct {
	Label    string // set by the caller: the broker
	Sessions int

	StormClient time.Duration // every birth acknowledged by the broker
	StormFleet  time.Duration // every node online in the fleet rows
	DropClient  time.Duration // mass drop: every node reconnected, birth acknowledged
	DropFleet   time.Duration // mass drop: every node online in the fleet rows again

	Proc         map[string]ProcResult // by watched process name ("loadgen" is this one)
	MonitorBps   float64               // what the stream checker received, steady state
	FleetBps     float64               // of which the fleet rows and summary
	Lag          [3]time.Duration      // p50, p99, max of report → monitor, steady state
	Freshness    time.Duration         // oldest last_seen of an online node in the rows, steady state
	Retained     int                   // retained node statuses a new monitor received (of Sessions)
	NodesLatency time.Duration         // NodesCommand's run time; -1 failed

	Made, Acked, Pending uint64 // counted messages made, acknowledged by the broker, still in outboxes
	LostMonitor          uint64 // acknowledged, never received by the monitor
	Gaps                 uint64 // the scheduler's own gap count, summed over the nodes
	Behind               uint64 // acknowledged seqs past the scheduler's last one for the node
	MissingRows          int    // nodes without a row in the fleet view
	Goodbyes             int    // acknowledged goodbyes
	GoodbyesLost         int    // of which the table still shows the node online

	Connects, ConnectFailures, Resent, Rebirths int64
	MonitorReconnects                           int64 // the stream checker's connections that ended and were made again
	BytesOut, BytesIn                           int64
	Load                                        map[string]string // load average by phase
	Errors                                      []string
}

// ProcResult is one watched process.
type ProcResult struct {
	SteadyRSS int64 // bytes, end of the first steady state
	PeakRSS   int64 // bytes, whole run
	CPUPerMin time.Duration
}

// Lost is every acknowledged message a view never got: the monitor's
// misses, the scheduler's gaps and trailing misses, rows it never had, and
// goodbyes it did not apply. Zero is the only passing value.
func (r Result) Lost() uint64 {
	return r.LostMonitor + r.Gaps + r.Behind + uint64(r.MissingRows) + uint64(r.GoodbyesLost)
}

// WriteTable prints results as one table, a row per run, followed by each
// run's detail.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tsessions\tstorm (acked/fleet)\tdrop (acked/fleet)\tRSS steady/peak\tCPU-s/min\tlost\tgaps\tretained\tnodes\tmonitor B/s (fleet)\tlag p99\tfreshness\tload (steady)\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s / %s\t%s / %s\t%s\t%s\t%d\t%d\t%d/%d\t%s\t%.0f (%.0f)\t%s\t%s\t%s\t\n",
			r.Label, r.Sessions, fmtWait(r.StormClient), fmtWait(r.StormFleet), fmtWait(r.DropClient), fmtWait(r.DropFleet),
			r.rss(), r.cpu(), r.Lost(), r.Gaps, r.Retained, r.Sessions, fmtDur(r.NodesLatency), r.MonitorBps, r.FleetBps,
			fmtDur(r.Lag[1]), fmtDur(r.Freshness), r.Load["steady"])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s, %d sessions: made %d, acknowledged %d, still in outboxes %d; lost: monitor %d, scheduler gaps %d, behind %d, rows missing %d, goodbyes not applied %d of %d\n",
			r.Label, r.Sessions, r.Made, r.Acked, r.Pending, r.LostMonitor, r.Gaps, r.Behind, r.MissingRows, r.GoodbyesLost, r.Goodbyes)
		fmt.Fprintf(w, "  connects %d (failed %d), resent %d, rebirths %d, monitor reconnects %d; nodes sent %d B, received %d B; lag p50/p99/max %s/%s/%s\n",
			r.Connects, r.ConnectFailures, r.Resent, r.Rebirths, r.MonitorReconnects, r.BytesOut, r.BytesIn, fmtDur(r.Lag[0]), fmtDur(r.Lag[1]), fmtDur(r.Lag[2]))
		names := make([]string, 0, len(r.Proc))
		for n := range r.Proc {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p := r.Proc[n]
			fmt.Fprintf(w, "  %s: RSS %s steady, %s peak; %.1f CPU-s/min\n", n, mib(p.SteadyRSS), mib(p.PeakRSS), p.CPUPerMin.Seconds())
		}
		fmt.Fprintf(w, "  load average: storm %s; steady %s; drop %s; end %s\n", r.Load["storm"], r.Load["steady"], r.Load["drop"], r.Load["end"])
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
	}
	return nil
}

// server is the measured side: every watched process but this one.
func (r Result) server() (rss, peak int64, cpu time.Duration, names []string) {
	for n, p := range r.Proc {
		if n == "loadgen" {
			continue
		}
		rss, peak, cpu = rss+p.SteadyRSS, peak+p.PeakRSS, cpu+p.CPUPerMin
		names = append(names, n)
	}
	return
}

func (r Result) rss() string {
	rss, peak, _, names := r.server()
	if len(names) == 0 {
		return "-"
	}
	return mib(rss) + "/" + mib(peak)
}

func (r Result) cpu() string {
	_, _, cpu, names := r.server()
	if len(names) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", cpu.Seconds())
}

func mib(b int64) string { return fmt.Sprintf("%dM", b>>20) }

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "failed"
	case d == 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return strings.Replace(fmt.Sprintf("%.1fs", d.Seconds()), ".0s", "s", 1)
}
