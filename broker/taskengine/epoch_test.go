package taskengine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/task"
)

// Every assignment the engine sends — a run, its re-send, a cancel, a
// fence's cancel when the node is back — and every status it publishes
// carry Options.Epoch; at 0 none carries the field at all, so the wire
// bytes of a scheduler without high availability are unchanged. A new
// engine over the same store, in a later term, re-sends in its own.
func TestEngineStampsItsEpoch(t *testing.T) {
	t.Parallel()
	for _, epoch := range []uint64{0, 7} {
		t.Run(map[uint64]string{0: "without HA", 7: "epoch 7"}[epoch], func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Epoch = epoch })
			// checkMsgs checks the epoch of every assignment and status of
			// the last step, and that at 0 the field is absent.
			checkMsgs := func(what string, wantAssign, wantStatus int) {
				t.Helper()
				as := h.assignments()
				if len(as) != wantAssign {
					t.Fatalf("%s: %d assignments, want %d:%s", what, len(as), wantAssign, h.dump())
				}
				for _, a := range as {
					if a.Epoch != epoch {
						t.Fatalf("%s: %s assignment of %s with epoch %d, want %d", what, a.Op, a.Task, a.Epoch, epoch)
					}
				}
				statuses := 0
				for _, m := range h.msgs {
					if !strings.Contains(m.Topic, "/tasks/status/") || len(m.Payload) == 0 {
						continue
					}
					statuses++
					st, err := task.DecodeStatus(m.Payload)
					if err != nil {
						t.Fatalf("%s: status on %s: %v", what, m.Topic, err)
					}
					if st.Epoch != epoch {
						t.Fatalf("%s: status of %s with epoch %d, want %d", what, st.Task, st.Epoch, epoch)
					}
					if epoch == 0 && bytes.Contains(m.Payload, []byte(`"epoch"`)) {
						t.Fatalf("%s: status at epoch 0 names an epoch: %s", what, m.Payload)
					}
				}
				if statuses < wantStatus {
					t.Fatalf("%s: %d statuses, want at least %d:%s", what, statuses, wantStatus, h.dump())
				}
				for _, m := range h.msgs {
					if !strings.HasSuffix(m.Topic, "/cmd/task") {
						continue
					}
					env, err := task.DecodeEnvelope(m.Payload)
					if err != nil {
						t.Fatal(err)
					}
					if named := bytes.Contains(env.Body, []byte(`"epoch"`)); named != (epoch != 0) {
						t.Fatalf("%s: signed body at epoch %d: %s", what, epoch, env.Body)
					}
				}
			}

			h.node("pi-a")
			h.submit(builtin("r", 10))
			checkMsgs("placed", 1, 1)
			h.tick(DefaultAckTimeout)
			checkMsgs("re-sent unacknowledged", 1, 0)
			h.event("pi-a", "r", 1, task.EventRunning)
			h.cancel("r")
			checkMsgs("cancelled", 1, 1)
			if as := h.assignments(); as[0].Op != task.AssignCancel {
				t.Fatalf("cancel step sent %+v", as)
			}

			// A fence's cancel, sent when the node is back.
			h.submit(builtin("f", 10))
			h.event("pi-a", "f", 1, task.EventRunning)
			h.offline("pi-a")
			h.cancel("f")
			if as := h.assignments(); len(as) != 0 {
				t.Fatalf("a cancel went to an offline node: %+v", as)
			}
			h.node("pi-a")
			checkMsgs("fences on reconnect", 2, 0) // r's fence too: pi-a never said it ended
			for _, a := range h.assignments() {
				if a.Op != task.AssignCancel {
					t.Fatalf("reconnect sent %+v", a)
				}
			}

			r := h.list()
			if len(r.Tasks) == 0 {
				t.Fatal("the list is empty")
			}
			for _, st := range r.Tasks {
				if st.Epoch != epoch {
					t.Fatalf("listed %s with epoch %d, want %d", st.Task, st.Epoch, epoch)
				}
			}

			// The next term's engine, over the same store.
			h.submit(builtin("n", 10))
			epoch++
			h.opts.Epoch = epoch
			h.restart()
			checkMsgs("re-sent by the next term", 1, 1)
		})
	}
}

func (h *harness) list() task.Reply {
	h.t.Helper()
	req := task.ControlRequest{V: task.Version, RequestID: "l1", ReplyTo: "tether/v1/default/replies/cli/l1", Op: task.OpList}
	h.do(func(e *Engine) { e.Control(req) })
	return h.reply()
}

func TestEngineRefusesAnEpochPastTheLimit(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Placer: leastOutstanding{}, Epoch: 1 << 53}, Loaded{})
	if err == nil || !strings.Contains(err.Error(), "Epoch") {
		t.Fatalf("New with epoch 2^53: %v", err)
	}
}
