// Command plotrun draws a power-cut run's store over its boots, from the
// run's console log: the store's size on disk beside its live data, and
// how long each open took (the TETHER-PL STORE line each boot prints once
// its store is open). Boots are numbered by the harness's "=== boot N"
// headings (else counted by their INIT BOOTED lines); a boot cut before
// its store opened has no point.
//
//	go run ./scripts/powerloss/plotrun -console .cache/powerloss/runs/<run>/console.log -o docs/img/powerloss
//
// writes <o>-size.png and <o>-open.png. With -check it also replays the
// harness's ledger over the console log and prints what it found — the
// verdict of a run that was stopped before its own report.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/tether-edge/tether/scripts/powerloss"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "plotrun:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("plotrun", flag.ContinueOnError)
	console := fs.String("console", "", "the run's console.log")
	out := fs.String("o", "powerloss", "output prefix: <o>-size.png and <o>-open.png")
	check := fs.Bool("check", false, "also replay the ledger over the log and print its counts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *console == "" {
		return errors.New("give the run's console log with -console")
	}
	f, err := os.Open(*console)
	if err != nil {
		return err
	}
	defer f.Close()
	pts, err := points(f)
	if err != nil {
		return err
	}
	if len(pts) == 0 {
		return errors.New("no STORE line in the console log")
	}
	if *check {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		st, boots, malformed, err := replay(f)
		if err != nil {
			return err
		}
		fmt.Printf("boots %d; acknowledged %d, checked %d, lost %d; acknowledgements sent by the harness %d, released %d (without one %d), "+
			"deletions durable %d (checked %d), listed again %d; "+
			"duplicates %d, seqs reused %d, quarantined %d, BROKEN %d, complete listings %d, over the size bound %d, malformed lines %d\n",
			boots, st.Acked, st.Checked, st.Lost, st.HostAcks, st.Released, st.Unacked, st.Deleted, st.DeletedChecked, st.Resurrected,
			st.Duplicates, st.Reused, st.Quarantined, st.Broken, st.Verified, st.OverSize, malformed)
		for _, p := range st.Problems {
			fmt.Println("problem:", p)
		}
	}
	return draw(pts, *out)
}

// replay applies each boot's protocol lines, as headed by the harness, to a
// ledger, as the run does after each boot.
func replay(r io.Reader) (st powerloss.Stats, boots, malformed int, err error) {
	var l powerloss.Ledger
	boot := -1
	var lines []powerloss.Line
	flush := func() {
		if boot >= 0 {
			l.Apply(boot, lines)
		}
		lines = nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if n, ok := bootHeading(sc.Text()); ok {
			flush()
			boot = n
			continue
		}
		ln, ok, err := powerloss.ParseLine(sc.Text())
		switch {
		case err != nil:
			malformed++
		case ok:
			lines = append(lines, ln)
		}
	}
	flush()
	return l.Stats, boot + 1, malformed, sc.Err()
}

// point is one boot's store: its number, MiB on disk and live, open time.
type point struct {
	boot             int
	disk, live, open float64
}

// points reads the STORE lines of a console log, numbered by boot.
func points(r io.Reader) ([]point, error) {
	var pts []point
	boot, numbered := -1, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// The harness heads each boot's lines "=== boot N: …"; a boot cut
		// before its init printed BOOTED has the heading only.
		if n, ok := bootHeading(sc.Text()); ok {
			boot, numbered = n, true
			continue
		}
		l, ok, err := powerloss.ParseLine(sc.Text())
		if err != nil || !ok {
			continue // not the protocol, or a line cut short by a cut
		}
		switch l.Kind {
		case powerloss.KindInitBooted:
			if !numbered {
				boot++
			}
		case powerloss.KindStore:
			pts = append(pts, point{boot: boot, disk: float64(l.Disk) / (1 << 20), live: float64(l.Live) / (1 << 20), open: float64(l.OpenMS)})
		}
	}
	return pts, sc.Err()
}

// bootHeading parses the harness's "=== boot N: …" line.
func bootHeading(s string) (int, bool) {
	rest, ok := strings.CutPrefix(s, "=== boot ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, ':'), 0)])
	return n, err == nil
}

func draw(pts []point, out string) error {
	size, open := plot.New(), plot.New()
	size.Title.Text = fmt.Sprintf("store size over %d boots (a power cut before each)", pts[len(pts)-1].boot)
	size.X.Label.Text, size.Y.Label.Text = "boot", "MiB"
	open.Title.Text = "store open time, in the TCG VM"
	open.X.Label.Text, open.Y.Label.Text = "boot", "ms"
	var disk, live, bound, ms plotter.XYs
	for _, p := range pts {
		x := float64(p.boot)
		disk = append(disk, plotter.XY{X: x, Y: p.disk})
		live = append(live, plotter.XY{X: x, Y: p.live})
		bound = append(bound, plotter.XY{X: x, Y: 4*p.live + float64(powerloss.SizeAllowance)/(1<<20)})
		ms = append(ms, plotter.XY{X: x, Y: p.open})
	}
	size.Legend.Top, size.Legend.Left = true, true
	top := 0.0
	for _, b := range bound {
		top = max(top, b.Y)
	}
	size.Y.Min, size.Y.Max = 0, top*1.35 // room above the lines for the legend
	if err := plotutil.AddLines(size, "on disk", disk, "live data", live, "bound: 4 × live + 24 MiB", bound); err != nil {
		return err
	}
	s, err := plotter.NewScatter(ms)
	if err != nil {
		return err
	}
	s.GlyphStyle.Radius = vg.Points(1)
	open.Add(s)
	if err := size.Save(8*vg.Inch, 4*vg.Inch, out+"-size.png"); err != nil {
		return err
	}
	return open.Save(8*vg.Inch, 4*vg.Inch, out+"-open.png")
}
