package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// cli runs tether-broker as the operator and returns its stdout, stderr
// and error.
func (s *taskSite) cli(args ...string) (string, string, error) {
	args = append(args, "--broker", s.url(), "--password-file", filepath.Join(s.dir, "operator.pw"), "--timeout", "5s")
	cmd := exec.Command(s.broker, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// TestTaskCommandsAndRejections drives tasks through the real CLI and
// feeds the scheduler and an agent what they must refuse: a spec with the
// wrong types, an oversized request, a command not on the agent's
// allowlist, and assignments that are unsigned, tampered with or signed by
// another key. Each is refused with a clear reason where its sender (or
// the operator) sees it, nothing is stored half-way, and nobody crashes.
func TestTaskCommandsAndRejections(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	s.startScheduler()
	agent := s.startAgent("pi-r1", "--task-slots", "1")
	s.waitFleet(20*time.Second, "agent online", func(m map[string]protocol.FleetNode) bool { return m["pi-r1"].Online })

	// A good task through the CLI, followed to its end.
	good := filepath.Join(s.dir, "good.yaml")
	os.WriteFile(good, []byte("id: cli-good\nkind: builtin\nbuiltin: {name: sleep, units: 10, unit_ms: 50}\ncheckpointable: true\n"), 0o600)
	out, errOut, err := s.cli("submit", "-f", good, "--wait")
	if err != nil {
		t.Fatalf("submit --wait: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "cli-good") || !strings.Contains(out, "output: ") || !strings.Contains(errOut, "succeeded") {
		t.Errorf("submit --wait printed:\n%s\nstderr:\n%s", out, errOut)
	}
	out, _, err = s.cli("task", "cli-good")
	if err != nil || !strings.Contains(out, "succeeded") || !strings.Contains(out, "attempts:") {
		t.Errorf("task cli-good: %v\n%s", err, out)
	}
	out, _, err = s.cli("submit", "-f", good)
	if err != nil || !strings.Contains(out, "already submitted") {
		t.Errorf("second submit of cli-good: %v\n%s", err, out)
	}

	// An exec task whose command the agent does not allow.
	denied := filepath.Join(s.dir, "denied.json")
	os.WriteFile(denied, []byte(`{"id":"cli-denied","kind":"exec","exec":{"command":"/bin/sh","args":["-c","echo hi"]}}`), 0o600)
	if out, errOut, err := s.cli("submit", "-f", denied, "--wait"); err == nil {
		t.Errorf("a command off the allowlist ran: %s%s", out, errOut)
	}
	out, _, _ = s.cli("task", "cli-denied")
	if !strings.Contains(out, "allowlist") {
		t.Errorf("cli-denied does not say why it was refused:\n%s", out)
	}

	// Cancel a long task.
	long := filepath.Join(s.dir, "long.yaml")
	os.WriteFile(long, []byte("id: cli-long\nkind: builtin\nbuiltin: {name: sleep, units: 600, unit_ms: 100}\n"), 0o600)
	if _, errOut, err := s.cli("submit", "-f", long); err != nil {
		t.Fatalf("submit long: %v %s", err, errOut)
	}
	if out, errOut, err := s.cli("cancel", "cli-long"); err != nil {
		t.Errorf("cancel: %v %s%s", err, out, errOut)
	}

	// Requests the scheduler must refuse, sent raw.
	topics, _ := protocol.NewTopics("default")
	op := newOperator(t, s.site)
	replies := make(chan task.Reply, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := op.sess.Subscribe(ctx, topics.Reply("operator", "raw-1"), 1, func(m session.Message) {
		if r, err := task.DecodeReply(m.Payload); err == nil {
			replies <- r
		}
	}); err != nil {
		t.Fatal(err)
	}
	wrongTypes := `{"v":1,"request_id":"raw-1","reply_to":"` + topics.Reply("operator", "raw-1") +
		`","spec":{"id":"raw-wrong","kind":"builtin","builtin":{"name":"cpu","units":"ten"}}}`
	if err := op.sess.Publish(ctx, session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: []byte(wrongTypes)}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-replies:
		if r.OK || !strings.Contains(r.Error, "units") {
			t.Errorf("wrong types answered %+v, want a refusal naming units", r)
		}
	case <-ctx.Done():
		t.Fatal("no reply to a spec with the wrong types")
	}
	huge := `{"v":1,"request_id":"raw-2","reply_to":"` + topics.Reply("operator", "raw-2") +
		`","spec":{"id":"raw-huge","kind":"exec","exec":{"command":"/bin/echo","args":["` + strings.Repeat("x", 300<<10) + `"]}}}`
	// Over the embedded broker's max_client_packet_size (260 KiB): the
	// broker closes the operator's connection before reading it, so the
	// publish may fail; either way no task may come of it.
	_ = op.sess.Publish(ctx, session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: []byte(huge)})

	// Assignments the agent must refuse: unsigned, signed by another key,
	// tampered with. The scheduler's own user publishes them, as a
	// compromised or misconfigured broker could.
	sched := connect(t, s.site, "tether-scheduler@forger", "tether-scheduler")
	_, otherKey, _ := ed25519.GenerateKey(nil)
	a := task.Assignment{V: task.Version, Op: task.AssignRun, Node: "pi-r1", Task: "forged", Attempt: 1,
		Issued: time.Now().UTC(), Expires: time.Now().Add(time.Minute).UTC(),
		Spec: &task.Spec{ID: "forged", Kind: task.KindExec, Exec: &task.Exec{Command: "/bin/sh", Args: []string{"-c", "touch " + filepath.Join(s.dir, "pwned")}}}}
	forged, err := task.Sign(otherKey, a)
	if err != nil {
		t.Fatal(err)
	}
	tampered := forged
	tampered.Body = []byte(strings.Replace(string(forged.Body), "pwned", "pwned2", 1))
	unsigned := forged
	unsigned.Sig = nil
	for name, env := range map[string]task.Envelope{"other key": forged, "tampered": tampered, "unsigned": unsigned} {
		b, _ := json.Marshal(env)
		if err := sched.Publish(ctx, session.Message{Topic: topics.NodeCommand("pi-r1", protocol.CmdTask), QoS: 1, Payload: b}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	testenv.Eventually(t, 15*time.Second, "the scheduler to hear of the agent's refusal of forged assignments", func() bool {
		return strings.Contains(s.scheduler.out.String(), "could not verify")
	})
	if !strings.Contains(agent.out.String(), "refused") {
		t.Error("the agent's log does not show the refusal")
	}

	// Nothing half-way: the refused submissions left no task, and nothing
	// forged ran.
	out, _, err = s.cli("tasks", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []task.Status
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tasks --json: %v\n%s", err, out)
	}
	ids := map[string]string{}
	for _, st := range list {
		ids[st.Task] = st.State
	}
	for _, id := range []string{"raw-wrong", "raw-huge", "forged"} {
		if _, ok := ids[id]; ok {
			t.Errorf("refused %s is stored as a task", id)
		}
	}
	if ids["cli-good"] != task.StateSucceeded || ids["cli-long"] != task.StateCancelled {
		t.Errorf("tasks: %v", ids)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
			t.Errorf("a forged assignment ran (%s exists)", f)
		}
	}
	select {
	case <-agent.done:
		t.Fatalf("the agent exited: %v", agent.err)
	case <-s.scheduler.done:
		t.Fatalf("the scheduler exited: %v", s.scheduler.err)
	default:
	}
	s.waitFleet(10*time.Second, "oversized request counted", func(map[string]protocol.FleetNode) bool { return true })
}
