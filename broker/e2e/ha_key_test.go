package e2e

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

// TestWrongSigningKeyRefused: a `tether-broker serve` of the region whose
// --signing-key-file holds another key than the one the region's stream
// holds refuses to act, whether another scheduler acts or none does:
// started beside the acting scheduler, and again once that one stopped
// (the lease free), it exits within seconds with status 78 (which
// deploy/systemd's unit does not restart) and an error naming the
// region's key id, its own and its file, having never stood by, held
// the lease or connected to MQTT. The acting scheduler keeps its term and
// epoch, the stream keeps its key, the epoch does not move while the lease
// is free, and agents (which pin the region's key) refuse no assignment:
// every task, before and after, succeeds exactly once with its correct
// output, the later ones signed by a scheduler without a key file, with
// the region's key.
func TestWrongSigningKeyRefused(t *testing.T) {
	t.Parallel()
	nodes := []string{"pi-key-00", "pi-key-01"}
	r := startHARegionOn(t, nodes, nil)
	wrong := filepath.Join(r.s.dir, "other.key")
	if out, err := exec.Command(r.s.broker, "keygen", "-o", wrong).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v: %s", err, out)
	}
	wrongKey, err := taskengine.LoadSigningKey(wrong)
	if err != nil {
		t.Fatal(err)
	}
	regionKey, regionID := r.regionKeyID(t)
	wrongID := task.KeyID(wrongKey.Public().(ed25519.PublicKey))
	r.keyFiles = map[string]string{"sched-c": wrong}
	r.keyless = map[string]bool{"sched-b": true}

	a := r.startScheduler("sched-a", 0)
	acting(t, time.Minute, a)
	op := newOperator(t, r.s)
	agents := map[string]*proc{}
	for _, node := range nodes {
		agents[node] = r.startAgent(node, "--task-slots", "2", "--sample-interval", "1s")
	}
	r.waitOnline(nodes)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	specs := mixedSpecs(rand.New(rand.NewPCG(seed, seed)), 12)
	submitAll(t, op, specs)
	before := r.stream(t)
	if !strings.HasPrefix(before.holder, "sched-a/") || !before.key.Equal(regionKey) {
		t.Fatalf("the region before: lease %q, key %v; want sched-a's lease and key %s", before.holder, before.key != nil, regionID)
	}

	// Beside the acting scheduler.
	refused := func(what string) {
		t.Helper()
		began := time.Now()
		c := r.startScheduler("sched-c", 1)
		err := c.wait(t, 30*time.Second)
		out := c.out.String()
		t.Logf("%s: sched-c exited %v after %v: %s", what, err, time.Since(began).Round(10*time.Millisecond), lastLines(out, 1))
		want := fmt.Sprintf("tether-broker: tasks.signing_key_file %s: ha: the configured signing key is not the region's: "+
			"the region signs with key %s, the configured key is %s; a region signs with one key; refusing to act", wrong, regionID, wrongID)
		if c.cmd.ProcessState.ExitCode() != 78 || !strings.Contains(out, want) {
			t.Errorf("%s: sched-c exited %v; want exit status 78 (deploy/systemd does not restart it) with %q. Output:\n%s", what, err, want, out)
		}
		for _, never := range []*regexp.Regexp{standbyRE, actingRE, regexp.MustCompile(`msg="ha: holding the region"`),
			regexp.MustCompile(`mqtt connected`), schedulerReadyRE} {
			if never.MatchString(out) {
				t.Errorf("%s: sched-c logged %q before it refused", what, never)
			}
		}
	}
	refused("beside the acting scheduler")
	if after := r.stream(t); after.holder != before.holder || after.epoch != before.epoch || !after.key.Equal(regionKey) {
		t.Errorf("the region after sched-c's refusal: lease %q epoch %d, key %s; want %q, epoch %d, key %s unchanged",
			after.holder, after.epoch, keyIDOf(after.key), before.holder, before.epoch, regionID)
	}
	if !isActing(a) || leaseLostRE.MatchString(a.out.String()) {
		t.Fatal("sched-a stopped acting beside the refused scheduler")
	}

	// With no scheduler acting: the lease is free, and must stay so.
	a.signal(syscall.SIGTERM)
	if err := a.wait(t, 30*time.Second); err != nil {
		t.Errorf("sched-a's clean stop: %v", err)
	}
	free := r.stream(t)
	if free.holder != "" {
		t.Fatalf("sched-a resigned, yet the lease names %q", free.holder)
	}
	refused("with the lease free")
	if after := r.stream(t); after.holder != "" || after.epoch != free.epoch || !after.key.Equal(regionKey) {
		t.Errorf("the region after sched-c's second refusal: lease %q epoch %d key %s; want no holder, epoch %d, key %s",
			after.holder, after.epoch, keyIDOf(after.key), free.epoch, regionID)
	}

	// A scheduler without a key file takes over with the region's key.
	b := r.startScheduler("sched-b", 2)
	acting(t, time.Minute, b)
	if m := keyFromRegionRE.FindString(b.out.String()); m == "" || !strings.HasSuffix(m, "key="+regionID) {
		t.Errorf("sched-b, no key file: logged %q; want the region's key %s loaded", m, regionID)
	}
	late := mixedSpecs(rand.New(rand.NewPCG(seed+1, seed)), 6)
	for i := range late {
		late[i].ID = strings.Replace(late[i].ID, "e2e", "e2e-late", 1)
	}
	submitAll(t, op, late)
	specs = append(specs, late...)
	checkOnce(t, specs, op.waitTasks(3*time.Minute, "every task ended", everyEnded(len(specs))))
	for node, p := range agents {
		if n := strings.Count(p.out.String(), "task assignment refused"); n > 0 {
			t.Errorf("%s refused %d assignments", node, n)
		}
	}
}

// submitAll submits specs, failing on a refusal.
func submitAll(t *testing.T, op *operator, specs []task.Spec) {
	t.Helper()
	for _, spec := range specs {
		if rep := op.submit(spec); !rep.OK || rep.Task != spec.ID {
			t.Fatalf("submit %s: %+v", spec.ID, rep)
		}
	}
}

func keyIDOf(k ed25519.PrivateKey) string {
	if k == nil {
		return "none"
	}
	return task.KeyID(k.Public().(ed25519.PublicKey))
}
