package powerloss

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPlanEventCuts: a plan's event cuts follow from the seed, take
// planWeights' share, spread over the kinds, wait for an occurrence the
// workload reaches, and do not move the other cuts.
func TestPlanEventCuts(t *testing.T) {
	for _, n := range []int{6, 10, 200, 1001} {
		plan := PlanCuts(7, n)
		if !cmp.Equal(plan, PlanCuts(7, n)) {
			t.Fatalf("n=%d: same seed, different plans", n)
		}
		var kinds [numEvents]int
		events := 0
		for _, c := range plan {
			if c.Phase != PhaseEvent {
				if c.Event != 0 || c.Nth != 0 || c.Delay != 0 {
					t.Errorf("n=%d: a %s cut with an event: %+v", n, c.Phase, c)
				}
				continue
			}
			events++
			kinds[c.Event]++
			if c.Nth < 1 || c.Nth > maxNth || c.Delay < minDelay || c.Delay > maxDelay {
				t.Errorf("n=%d: event cut %+v out of bounds", n, c)
			}
		}
		if want := int(math.Round(planWeights[PhaseEvent] * float64(n))); events < want-1 || events > want+1 {
			t.Errorf("n=%d: %d event cuts, want about %d", n, events, want)
		}
		for e := range numEvents {
			if events >= int(numEvents) && (kinds[e] < events/int(numEvents) || kinds[e] > events/int(numEvents)+1) {
				t.Errorf("n=%d: %d %s cuts of %d event cuts, want an equal share", n, kinds[e], e, events)
			}
		}
	}
	// The phases and U are those of the weighted plan alone.
	bare := planWeighted(7, 200, planWeights, 0x7e7e_7e7e)
	for i, c := range PlanCuts(7, 200) {
		if c.Phase != bare[i].Phase || c.U != bare[i].U {
			t.Fatalf("cut %d: %+v, the weighted plan says %+v", i, c, bare[i])
		}
	}
	if cmp.Equal(PlanCuts(1, 50), PlanCuts(2, 50)) {
		t.Error("seeds 1 and 2 give the same plan")
	}
	for _, c := range PlanTaskCuts(7, 50, 80) {
		if c.Phase == PhaseEvent {
			t.Fatal("the task run's plan aims at a store event")
		}
	}
}

// TestParetoDelayShape: the delay's distribution is bounded, rises with u,
// and has the shape its comment promises: a median of milliseconds and a
// tail into seconds.
func TestParetoDelayShape(t *testing.T) {
	const n = 100_000
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = paretoDelay((float64(i) + 0.5) / n)
		if i > 0 && d[i] < d[i-1] {
			t.Fatalf("delay falls from %v to %v as u rises", d[i-1], d[i])
		}
	}
	if d[0] < minDelay || d[n-1] > maxDelay || paretoDelay(0) != minDelay || paretoDelay(math.Nextafter(1, 0)) < maxDelay*99/100 {
		t.Errorf("delays %v..%v (u=0: %v), want [%v, %v] reached at both ends", d[0], d[n-1], paretoDelay(0), minDelay, maxDelay)
	}
	over := func(x time.Duration) float64 {
		i, _ := slices.BinarySearch(d, x)
		return float64(n-i) / n
	}
	med := d[n/2]
	if med < 4*time.Millisecond || med > 9*time.Millisecond {
		t.Errorf("median %v, want 4–9 ms", med)
	}
	if f := over(100 * time.Millisecond); f < 0.13 || f > 0.20 {
		t.Errorf("%.3f over 100 ms, want 0.13–0.20", f)
	}
	if f := over(time.Second); f < 0.03 || f > 0.06 {
		t.Errorf("%.3f over 1 s, want 0.03–0.06", f)
	}
}

// TestBootEventCut: an event cut waits for the Nth announcement of its
// kind, cuts Delay after it, and cuts EventWait after the listing when the
// event does not come.
func TestBootEventCut(t *testing.T) {
	cfg := Config{}
	cfg.ensureDefaults()
	w := initialWindows()
	ms := time.Millisecond
	b := &boot{cut: &Cut{Phase: PhaseEvent, Event: EventClose, Nth: 2, Delay: 40 * ms}}
	feed(b, w, 1000*ms, "TETHER-PL-INIT MOUNTING")
	feed(b, w, 1010*ms, "TETHER-PL-INIT START")
	feed(b, w, 1100*ms, "TETHER-PL EVENT open 1")
	feed(b, w, 1200*ms, "TETHER-PL OPENED recovered=0 next=1")
	if at, why := b.next(&cfg, w); at != 1010*ms+cfg.OpenTimeout || why == "" {
		t.Errorf("before the listing ends: next=%v %q, want the open timeout", at, why)
	}
	feed(b, w, 1300*ms, "TETHER-PL COMMIT 1")
	if at, why := b.next(&cfg, w); at != 1300*ms+cfg.EventWait || why != "" {
		t.Errorf("no event yet: cut at %v %q, want EventWait after the listing", at, why)
	}
	feed(b, w, 2000*ms, "TETHER-PL EVENT close 1")
	feed(b, w, 2100*ms, "TETHER-PL EVENT gc 2")
	if b.eventAt != 0 {
		t.Fatalf("event at %v before close 2", b.eventAt)
	}
	feed(b, w, 3000*ms, "TETHER-PL EVENT close 2")
	feed(b, w, 3010*ms, "TETHER-PL EVENT close 3")
	if at, why := b.next(&cfg, w); at != 3040*ms || why != "" {
		t.Errorf("cut at %v %q, want 40 ms after close 2 at 3s", at, why)
	}
}

// TestReportEventCuts: the report counts the event cuts per kind, and a
// run whose event cuts all missed their event checked nothing of them.
func TestReportEventCuts(t *testing.T) {
	r := syntheticRun(10)
	r.Planned[PhaseEvent] = 3
	r.Events[EventGC] = EventCuts{Planned: 2, Missed: 1}
	r.Events[EventClose] = EventCuts{Planned: 1, Missed: 1}
	if r.OK() || !strings.Contains(strings.Join(r.Thin(), "\n"), "none made after its event") {
		t.Fatalf("every event cut missed, yet:\n%s", r)
	}
	r.Events[EventGC].add(12*time.Millisecond, PhaseCompact)
	if !r.OK() {
		t.Fatalf("one event cut made, still failing:\n%s", r)
	}
	for _, want := range []string{
		"cuts aimed at gc events: 1 after the event (delay min 12 ms, median 12 ms, max 12 ms; landed in boot 0, mount 0, open 0, write 0, compaction 1), 1 of 2 planned missed",
		"cuts aimed at close events: 0 after the event, 1 of 1 planned missed",
	} {
		if !strings.Contains(r.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.String(), "rotate events") {
		t.Errorf("report lists a kind no cut aimed at:\n%s", r)
	}
}

func TestParseEvent(t *testing.T) {
	for s, want := range map[string]Line{
		"TETHER-PL EVENT rotate 3 00002.mem": {Kind: KindEvent, Store: EventRotate, Nth: 3},
		"TETHER-PL EVENT gc 1\r\n":           {Kind: KindEvent, Store: EventGC, Nth: 1},
		"TETHER-PL EVENT close 12":           {Kind: KindEvent, Store: EventClose, Nth: 12},
		"TETHER-PL EVENT open 2":             {Kind: KindEvent, Store: EventOpen, Nth: 2},
		"TETHER-PL EVENT flush 2":            {Kind: KindOther, Text: "EVENT flush"},
	} {
		got, ok, err := ParseLine(s)
		if !ok || err != nil || !cmp.Equal(got, want) {
			t.Errorf("ParseLine(%q) = %+v, %v, %v; want %+v", s, got, ok, err, want)
		}
	}
	for _, s := range []string{"TETHER-PL EVENT", "TETHER-PL EVENT gc", "TETHER-PL EVENT gc 0", "TETHER-PL EVENT open x"} {
		if _, ok, err := ParseLine(s); !ok || err == nil {
			t.Errorf("ParseLine(%q): ok=%v err=%v, want a protocol error", s, ok, err)
		}
	}
}
