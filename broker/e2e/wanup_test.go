package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestUploadDecidedOnTheMeasuredWANUp: the up direction of the WAN, as
// TestOffloadDecidedOnTheMeasuredWAN does the down one. vm-1, a cloud-tier
// agent four times faster than pi, reaches the site through a shaped link
// of 4 Mbit/s and 50 ms round trips, while placement.wan says 30 Mbit/s
// up. A task of 4 s of work at pi's speed takes an 8 MiB input an operator
// uploads to the scheduler. By the configured WAN, offloading it (~2.3 s
// to send the input, 1 s of work) beats keeping it (4 s): the first task
// goes to vm-1, whose agent fetches the input over the real link — the
// scheduler times serving it, the WAN's first measured up sample.
// Blended with the configuration, the WAN's up reads ~17 Mbit/s: the
// input alone would take ~4 s, so the same task on another upload then
// stays on pi.
func TestUploadDecidedOnTheMeasuredWANUp(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	conf := filepath.Join(s.dir, "placement.yaml")
	yaml := "placement:\n  background_load: false\n  wan:\n    rtt: 20ms\n    up_mbps: 30\n    down_mbps: 30\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startScheduler("--config", conf, "--link-probe", "0")
	wan := testenv.NewShapedProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port), testenv.Shape{Delay: 25 * time.Millisecond, Mbps: 4})
	s.startAgent("vm-1", "--broker", wan.URL(), "--tier", "cloud", "--label", "tether.speed=4", "--task-slots", "2", "--task-allow", "/bin/sh")
	s.startAgent("pi", "--label", "tether.speed=1", "--task-slots", "2", "--task-allow", "/bin/sh")
	s.waitFleet(30*time.Second, "both nodes online", func(m map[string]protocol.FleetNode) bool {
		return m["vm-1"].Online && m["pi"].Online
	})
	op := newOperator(t, s.site)
	// The second task's script takes 1 s on either node: on vm-1 that is
	// its declared speed (4 s of work at 4×). The first one's runs 10 s,
	// so that it is still running when the second is placed: a run's
	// duration as the agent reports it begins before its input is fetched
	// (agent/runner, work), so a first run that ended would teach placement
	// that vm-1 computes at a quarter of pi's speed after its ~17 s fetch,
	// and that alone would keep the second task at the edge.
	submit := func(id string, seed uint64, sleep string) {
		t.Helper()
		in := filepath.Join(s.dir, id+".bin")
		if err := os.WriteFile(in, randomBytes(8<<20, seed), 0o600); err != nil {
			t.Fatal(err)
		}
		spec := filepath.Join(s.dir, id+".yaml")
		y := "id: " + id + "\nkind: exec\nwork: 4\nexec: {command: /bin/sh, args: [-c, 'sleep " + sleep + "']}\n"
		if err := os.WriteFile(spec, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := s.cli("submit", "-f", spec, "--input", "data="+in); err != nil || !strings.Contains(errOut, "uploaded data") {
			t.Fatalf("submit --input: %v\n%s%s", err, out, errOut)
		}
	}
	placed := func(id string) string {
		t.Helper()
		st := op.waitTasks(30*time.Second, id+" assigned", func(m map[string]task.Status) bool { return m[id].Node != "" })
		return st[id].Node
	}

	submit("by-config", 41, "10")
	if node := placed("by-config"); node != "vm-1" {
		t.Fatalf("by the configured 30 Mbit/s up the task should go to the cloud; it went to %s", node)
	}
	sum := watchSummary(t, s.site)
	w := sum.wait(t, 90*time.Second, "the WAN's up measured by vm-1's fetch of the input", time.Time{}, func(w *protocol.WANLink) bool {
		return w.Measured != nil && w.Measured.UpMbpsSamples >= 1
	})
	t.Logf("WAN measured %.2f Mbit/s up (%d transfers); placement uses %.2f up, %.2f down", w.Measured.UpMbps, w.Measured.UpMbpsSamples, w.UpMbps, w.DownMbps)
	// Shaped at 4 Mbit/s: never more (plus framing slack), and not so far
	// below that it says nothing of the link.
	if w.Measured.UpMbps > 4.5 || w.Measured.UpMbps < 1 {
		t.Errorf("WAN measured at %.2f Mbit/s up, shaped at 4", w.Measured.UpMbps)
	}
	if w.Measured.MbpsSamples != 0 || w.DownMbps != 30 {
		t.Errorf("the down direction moved (%d samples, %.2f Mbit/s): nothing came down", w.Measured.MbpsSamples, w.DownMbps)
	}
	var link *protocol.LinkEstimate
	s.waitFleet(10*time.Second, "vm-1's row shows the up direction", func(m map[string]protocol.FleetNode) bool {
		link = m["vm-1"].Link
		return link != nil && link.UpMbpsSamples >= 1
	})
	if link.UpMbps != w.Measured.UpMbps {
		t.Errorf("vm-1's row says %.2f Mbit/s up, the WAN's estimate %.2f: one sample of both", link.UpMbps, w.Measured.UpMbps)
	}
	// The placer reads the WAN at a cloud node's report (every 500 ms
	// here); nothing outside shows that.
	time.Sleep(2 * time.Second) // kept: a few of vm-1's reports, for the placer to read the estimate

	submit("by-measure", 42, "1")
	if node := placed("by-measure"); node != "pi" {
		t.Fatalf("by the measured WAN up the task should stay at the edge; it went to %s", node)
	}
	if st := op.snapshot()["by-config"]; st.State != task.StateRunning {
		t.Errorf("by-config is %s when by-measure is placed, want running: the test proves less", st.State)
	}
	op.waitTasks(60*time.Second, "both succeeded", func(m map[string]task.Status) bool {
		return m["by-config"].State == task.StateSucceeded && m["by-measure"].State == task.StateSucceeded
	})
}
