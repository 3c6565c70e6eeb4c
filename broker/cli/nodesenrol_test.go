package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
)

// TestNodesApproveRevoke: revoke removes the node's credentials and marks
// it revoked; approve lifts that and lets it enrol; pending lists waiting
// requests.
func TestNodesApproveRevoke(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file, creds := filepath.Join(dir, "enrol.json"), filepath.Join(dir, "credentials")
	if err := mqttd.AddUser(creds, "pi-1", "pw-pi-1-long-enough"); err != nil {
		t.Fatal(err)
	}
	_ = enrol.Update(file, func(s *enrol.State) error {
		s.SetPending(enrol.PendingNode{Node: "cam-1", Token: "0123456789ab", Reason: enrol.ReasonNameNotAllow})
		return nil
	})
	run := func(args ...string) (string, error) {
		env, out, _ := testEnv("")
		err := Run(context.Background(), env, append([]string{"nodes"}, args...))
		return out.String(), err
	}
	if out, err := run("pending", "-f", file); err != nil || !strings.Contains(out, "cam-1") || !strings.Contains(out, enrol.ReasonNameNotAllow) {
		t.Fatalf("pending: %v\n%s", err, out)
	}
	if _, err := run("revoke", "-f", file, "--credentials", creds, "pi-1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := mqttd.LoadCredentials(creds); c.Has("pi-1") {
		t.Fatal("revoked node keeps its credentials")
	}
	if s, _ := enrol.Load(file); !enrol.Has(s.Revoked, "pi-1") {
		t.Fatalf("not marked revoked: %+v", s)
	}
	if _, err := run("approve", "-f", file, "pi-1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := enrol.Load(file); enrol.Has(s.Revoked, "pi-1") || !enrol.Has(s.Approved, "pi-1") {
		t.Fatalf("approve: %+v", s)
	}
	for _, args := range [][]string{{"revoke", "-f", file, "pi-1"}, {"approve", "-f", file}, {"approve", "-f", file, "bad/id"}} {
		if _, err := run(args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
