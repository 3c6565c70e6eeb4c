package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestOffloadDecidedOnTheMeasuredWAN: vm-1, a cloud-tier agent four times
// faster than pi, reaches the site through a shaped link of 4 Mbit/s and
// 50 ms round trips, while placement.wan says 30 Mbit/s down. A task of 4 s
// of work at pi's speed makes an 8 MB result. By the configured WAN,
// offloading it (1 s of work, ~2 s to bring the result down) beats keeping
// it (4 s): the first task goes to vm-1, and its result comes down the real
// link — the WAN's first measured sample. Blended with the configuration
// (one sample each), the WAN reads ~17 Mbit/s: the result alone would take
// ~3.8 s, so the same task then stays on pi.
func TestOffloadDecidedOnTheMeasuredWAN(t *testing.T) {
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
	// The script takes 1 s on either node: on vm-1 that is its declared
	// speed (4 s of work at 4×), so what the scheduler learns from the first
	// task's run agrees with the label.
	spec := func(id string) task.Spec {
		return task.Spec{ID: id, Kind: task.KindExec, Work: 4, OutputBytes: 8 << 20, Outputs: []string{"result"},
			Exec: &task.Exec{Command: "/bin/sh", Args: []string{"-c", `sleep 1; head -c 8388608 /dev/urandom > "$TETHER_OUTPUT_RESULT"`}}}
	}
	placed := func(id string) string {
		t.Helper()
		st := op.waitTasks(30*time.Second, id+" assigned", func(m map[string]task.Status) bool { return m[id].Node != "" })
		return st[id].Node
	}

	if r := op.submit(spec("by-config")); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	if node := placed("by-config"); node != "vm-1" {
		t.Fatalf("by the configured 30 Mbit/s the task should go to the cloud; it went to %s", node)
	}
	sum := watchSummary(t, s.site)
	w := sum.wait(t, 90*time.Second, "the WAN measured by the result's pull", time.Time{}, func(w *protocol.WANLink) bool {
		return w.Measured != nil && w.Measured.MbpsSamples >= 1
	})
	t.Logf("WAN measured %.2f Mbit/s down (%d transfers); placement uses %.2f down", w.Measured.Mbps, w.Measured.MbpsSamples, w.DownMbps)
	if w.Measured.Mbps > 4.5 || w.Measured.Mbps < 1 {
		t.Errorf("WAN measured at %.2f Mbit/s down, shaped at 4", w.Measured.Mbps)
	}
	// The placer reads the WAN at a cloud node's report (every 500 ms
	// here); nothing outside shows that.
	time.Sleep(2 * time.Second) // kept: a few of vm-1's reports, for the placer to read the estimate

	if r := op.submit(spec("by-measure")); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	if node := placed("by-measure"); node != "pi" {
		t.Fatalf("by the measured WAN the task should stay at the edge; it went to %s", node)
	}
	op.waitTasks(60*time.Second, "both succeeded", func(m map[string]task.Status) bool {
		return m["by-config"].State == task.StateSucceeded && m["by-measure"].State == task.StateSucceeded
	})
}
