package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFleetOf1000LosesNothing is `make load`'s short form: 1,000 agents
// sampling every 10 s (the agent's default) against a real scheduler with
// its embedded broker, a connect storm, 30 s steady, a mass drop and
// reconnect, 30 s steady, a graceful stop — not one acknowledged message
// lost. The generator runs as the real `tether-broker loadgen`, outside
// the race detector, so the checker keeps up as it does in `make load`.
func TestFleetOf1000LosesNothing(t *testing.T) {
	t.Parallel()
	r := startRegion(t, 1000)
	dir := t.TempDir()
	var list strings.Builder
	for _, n := range r.nodes {
		fmt.Fprintf(&list, "%s %s\n", n.User, n.Password)
	}
	nodes, monPw, result := filepath.Join(dir, "nodes.txt"), filepath.Join(dir, "monitor.pw"), filepath.Join(dir, "result.json")
	os.WriteFile(nodes, []byte(list.String()), 0o600)
	os.WriteFile(monPw, []byte(r.monitor.Password+"\n"), 0o600)
	out, err := exec.Command(brokerBinary(t), "loadgen", "--broker", r.addr, "--nodes-file", nodes,
		"--monitor-user", r.monitor.User, "--monitor-password-file", monPw, "--nodes-password-file", monPw, "--steady", "30s", "--settle", "90s",
		"--watch", fmt.Sprintf("scheduler=%d", r.pid), "--label", "embedded", "--result", result, "--log-level", "warn").CombinedOutput()
	t.Logf("tether-broker loadgen: %v\n%s", err, out)
	b, rerr := os.ReadFile(result)
	if rerr != nil {
		t.Fatalf("no result: %v", rerr)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	check(t, res)
	if err != nil && res.Lost() == 0 {
		t.Errorf("loadgen failed with nothing lost: %v", err)
	}
}
