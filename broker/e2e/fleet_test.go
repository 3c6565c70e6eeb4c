package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestFleetLiveness is the walking skeleton's acceptance: a scheduler and
// two agents on loopback; both are listed online by `tether-broker nodes`
// within 3 s; after SIGKILL one is offline within 1.5× its keepalive; after
// SIGTERM the other is offline within 1 s.
func TestFleetLiveness(t *testing.T) {
	s := newSite(t)
	s.startScheduler()
	start := time.Now()
	a := s.startAgent("pi-a")
	b := s.startAgent("pi-b")
	s.waitFleet(3*time.Second, "both agents online", func(n map[string]protocol.FleetNode) bool {
		return n["pi-a"].Online && n["pi-b"].Online && n["pi-a"].CPU != nil && n["pi-b"].CPU != nil
	})
	t.Logf("both agents online with metrics %v after start", time.Since(start).Round(time.Millisecond))

	const keepalive = 5 * time.Second
	a.signal(syscall.SIGKILL)
	took := s.waitFleet(keepalive*3/2, "killed agent offline", func(n map[string]protocol.FleetNode) bool {
		return !n["pi-a"].Online && n["pi-b"].Online
	})
	t.Logf("SIGKILL: offline after %v (limit %v)", took.Round(time.Millisecond), keepalive*3/2)

	b.signal(syscall.SIGTERM)
	took = s.waitFleet(time.Second, "terminated agent offline", func(n map[string]protocol.FleetNode) bool {
		return !n["pi-b"].Online && n["pi-b"].Reason == protocol.ReasonShutdown
	})
	t.Logf("SIGTERM: offline after %v (limit 1s)", took.Round(time.Millisecond))
	if err := b.wait(t, 5*time.Second); err != nil {
		t.Fatalf("agent did not exit cleanly on SIGTERM: %v", err)
	}
}

// TestMosquittoSubShowsRetainedStatus runs the monitor line `make run`
// prints, with the real mosquitto_sub, and checks every node's retained
// status arrives as readable JSON.
func TestMosquittoSubShowsRetainedStatus(t *testing.T) {
	sub := testenv.RequireTool(t, "mosquitto_sub")
	s := newSite(t)
	s.startScheduler()
	s.startAgent("pi-a", "--label", "site=lab")
	s.startAgent("pi-b", "--tier", "cloud")
	s.waitFleet(5*time.Second, "agents online", func(n map[string]protocol.FleetNode) bool {
		return n["pi-a"].Online && n["pi-b"].Online
	})
	out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-u", "monitor", "-P", s.password("monitor"),
		"-t", "tether/v1/#", "-v", "-W", "2").Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 27) { // 27: -W timeout, expected
		t.Fatalf("mosquitto_sub: %v\n%s", err, out)
	}
	statuses := map[string]protocol.NodeStatus{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		topic, payload, _ := strings.Cut(sc.Text(), " ")
		nt, err := protocol.ParseNodeTopic(topic)
		if err != nil || nt.Kind != protocol.KindStatus {
			continue
		}
		st, err := protocol.DecodeNodeStatus([]byte(payload))
		if err != nil {
			t.Fatalf("status on %s is not a valid message: %v\n%s", topic, err, payload)
		}
		if !json.Valid([]byte(payload)) {
			t.Fatalf("not JSON: %s", payload)
		}
		statuses[nt.Node] = st
	}
	for _, n := range []string{"pi-a", "pi-b"} {
		st, ok := statuses[n]
		if !ok || st.State != protocol.StateOnline || st.Facts == nil {
			t.Fatalf("retained status of %s missing or not a birth: %+v\nfull output:\n%s", n, st, out)
		}
	}
	if statuses["pi-a"].Facts.Labels["site"] != "lab" || statuses["pi-b"].Facts.Tier != protocol.TierCloud {
		t.Fatalf("facts do not carry the configured labels/tier: %+v %+v", statuses["pi-a"].Facts, statuses["pi-b"].Facts)
	}
	if !strings.Contains(string(out), "tether/v1/default/fleet/summary") || !strings.Contains(string(out), "tether/v1/default/scheduler/status") {
		t.Fatalf("fleet summary or scheduler status not retained:\n%s", out)
	}
}

// TestDuplicateNodeIDIsVisible starts two agents with the same node id and
// credentials, as happens when a configured image is cloned: instead of
// silently taking the MQTT session from each other, the scheduler flags the
// node and both agents log an error naming the other.
func TestDuplicateNodeIDIsVisible(t *testing.T) {
	s := newSite(t)
	s.startScheduler()
	a := s.startAgent("pi-clone")
	b := s.startAgent("pi-clone", "--data-dir", filepath.Join(s.dir, "data-pi-clone-2")) // another device, another store
	took := s.waitFleet(20*time.Second, "duplicate flagged", func(n map[string]protocol.FleetNode) bool {
		return n["pi-clone"].Duplicate
	})
	t.Logf("duplicate node id flagged after %v", took.Round(time.Millisecond))
	const msg = "another agent is using this node id"
	if !testenv.Within(10*time.Second, func() bool {
		return strings.Contains(a.out.String(), msg) && strings.Contains(b.out.String(), msg)
	}) {
		t.Fatalf("an agent did not report the duplicate: a=%v b=%v",
			strings.Contains(a.out.String(), msg), strings.Contains(b.out.String(), msg))
	}
}
