package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestWANEstimateFollowsTheCloudLink: vm-1, a cloud-tier agent, reaches
// the site through a shaped link — 50 ms each way, 4 Mbit/s — while
// placement.wan says 20 ms round trips and 100 Mbit/s down. Its probes
// (each second) and one pull of a 1 MiB input it holds (for a task that
// runs at the edge) are the WAN's samples: the fleet summary's WAN, what
// placement uses, moves from the configured values toward the measured
// ones by the blend (the configuration counting as one sample), and the up
// direction, which no transfer to vm-1 measured, stays as configured. The scheduler
// is then restarted with probes off: its summary shows the same estimate,
// restored from the file it saved at stop, and vm-1's row its link.
func TestWANEstimateFollowsTheCloudLink(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	conf := filepath.Join(s.dir, "placement.yaml")
	yaml := "placement:\n  background_load: false\n  wan:\n    rtt: 20ms\n    up_mbps: 100\n    down_mbps: 100\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sched := s.startScheduler("--config", conf, "--link-probe", "1s")
	input := putAgentBlob(t, s.site, "vm-1", randomBytes(1<<20, 41))
	wanLink := testenv.NewShapedProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port), testenv.Shape{Delay: 50 * time.Millisecond, Mbps: 4})
	s.startAgent("vm-1", "--broker", wanLink.URL(), "--tier", "cloud")
	s.startAgent("pi-a")
	s.waitFleet(30*time.Second, "both nodes online", func(m map[string]protocol.FleetNode) bool {
		return m["vm-1"].Online && m["pi-a"].Online
	})
	op := newOperator(t, s.site)
	spec := task.Spec{ID: "at-the-edge", Kind: task.KindBuiltin, Work: 0.1,
		Builtin:     &task.Builtin{Name: task.BuiltinSleep, Units: 1, UnitMS: 100},
		Inputs:      map[string]task.Input{"frame": {Blob: input, From: "node/vm-1"}},
		Constraints: task.Constraints{Tier: task.TierEdge}}
	if r := op.submit(spec); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	sums := watchSummary(t, s.site)

	measured := sums.wait(t, 60*time.Second, "the WAN measured by probes and the pull", time.Time{}, func(w *protocol.WANLink) bool {
		return w.Measured != nil && w.Measured.RTTSamples >= 3 && w.Measured.MbpsSamples >= 1
	})
	m := measured.Measured
	t.Logf("WAN measured: %.1f ms ± %.1f (%d probes), %.2f Mbit/s down (%d transfers); placement uses %.1f ms, %.2f down, %.0f up",
		m.RTTMS, m.RTTDevMS, m.RTTSamples, m.Mbps, m.MbpsSamples, measured.RTTMS, measured.DownMbps, measured.UpMbps)
	// Shaped at 100 ms round trips and 4 Mbit/s: never faster. A probe
	// sent while the pull holds the link waits behind it (1 MiB at 4
	// Mbit/s: about 2.1 s), so the round trip may read up to that.
	if m.RTTMS < 95 || m.RTTMS > 3000 {
		t.Errorf("WAN round trip measured at %.1f ms, shaped at 100", m.RTTMS)
	}
	if m.Mbps <= 0 || m.Mbps > 4.5 {
		t.Errorf("WAN measured at %.2f Mbit/s down, shaped at 4", m.Mbps)
	}
	checkBlend(t, "round trip", measured.RTTMS, 20, m.RTTMS, m.RTTSamples)
	checkBlend(t, "down", measured.DownMbps, 100, m.Mbps, m.MbpsSamples)
	if measured.UpMbps != 100 {
		t.Errorf("WAN up %.2f Mbit/s: nothing was sent to vm-1, want the configured 100", measured.UpMbps)
	}

	sched.signal(syscall.SIGTERM)
	if err := sched.wait(t, 20*time.Second); err != nil {
		t.Fatalf("scheduler stop: %v", err)
	}
	restarted := time.Now()
	s.startScheduler("--config", conf, "--link-probe", "0")
	back := sums.wait(t, 30*time.Second, "the restarted scheduler's summary", restarted, func(*protocol.WANLink) bool { return true })
	if back.Measured == nil || back.Measured.RTTSamples < m.RTTSamples || back.Measured.MbpsSamples < m.MbpsSamples {
		t.Fatalf("after the restart the WAN is %+v (measured %+v), want at least the %d probes and %d transfers measured before",
			back, back.Measured, m.RTTSamples, m.MbpsSamples)
	}
	checkBlend(t, "round trip after the restart", back.RTTMS, 20, back.Measured.RTTMS, back.Measured.RTTSamples)
	checkBlend(t, "down after the restart", back.DownMbps, 100, back.Measured.Mbps, back.Measured.MbpsSamples)
	// The node's own row shows its restored link once it is back, with no
	// probe (they are off) and no transfer since.
	s.waitFleet(30*time.Second, "vm-1's row with its restored link", func(m map[string]protocol.FleetNode) bool {
		l := m["vm-1"].Link
		return m["vm-1"].Online && l != nil && l.RTTSamples >= 1 && l.MbpsSamples >= 1
	})
}

// checkBlend fails unless got is the configured prior blended with n
// samples of measured (links.Blend), to the summary's rounding.
func checkBlend(t *testing.T, what string, got, prior, measured float64, n uint64) {
	t.Helper()
	want := (prior + float64(n)*measured) / float64(n+1)
	if math.Abs(got-want) > 0.01+want*1e-3 {
		t.Errorf("WAN %s: placement uses %.3f, want %.3f (configured %.1f blended with %d samples of %.3f)",
			what, got, want, prior, n, measured)
	}
}

// summaryWatch follows the retained fleet summary across restarts.
type summaryWatch struct {
	mu   sync.Mutex
	last protocol.FleetSummary
	at   time.Time // when last arrived
}

func watchSummary(t *testing.T, s *site) *summaryWatch {
	t.Helper()
	w := &summaryWatch{}
	topics, _ := protocol.NewTopics("default")
	sess, err := session.New(session.Options{Brokers: []string{s.url()}, ClientID: "monitor@wan", Username: "monitor",
		Password: s.password("monitor"), CleanSession: true, KeepAlive: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	if err := sess.Subscribe(wctx, topics.FleetSummary(), 1, func(m session.Message) {
		if sum, err := protocol.DecodeFleetSummary(m.Payload); err == nil {
			w.mu.Lock()
			w.last, w.at = sum, time.Now()
			w.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// wait returns the summary's WAN once a summary stamped after since has
// one for which ok holds.
func (w *summaryWatch) wait(t *testing.T, within time.Duration, what string, since time.Time, ok func(*protocol.WANLink) bool) protocol.WANLink {
	t.Helper()
	var got protocol.WANLink
	testenv.Eventually(t, within, what, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.last.WAN == nil || w.last.TS.Before(since) || !ok(w.last.WAN) {
			return false
		}
		got = *w.last.WAN
		return true
	})
	return got
}
