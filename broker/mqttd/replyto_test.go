package mqttd

import (
	"fmt"
	"testing"
)

// TestTaskRequestRepliesOnlyToItsSender: an operator's task request whose
// reply_to names another user's replies subtree in this region never
// reaches the scheduler, so the scheduler cannot be made to answer into
// that user's reply topic; the same request with the sender's own reply_to
// (or one in a subtopic of it) passes, submit and control alike, and so
// does one the scheduler refuses itself (another region's).
func TestTaskRequestRepliesOnlyToItsSender(t *testing.T) {
	opts := testOptions(t)
	if err := AddUser(opts.CredentialsFile, "operator2", password("operator2")); err != nil {
		t.Fatal(err)
	}
	opts.OperatorUsers = append(opts.OperatorUsers, "operator2")
	addr := startServer(t, opts).Addr().String()

	sched := mustDial(t, addr, "scheduler")
	submit, control := "tether/v1/"+testRegion+"/tasks/submit", "tether/v1/"+testRegion+"/tasks/control"
	sched.subscribe(submit, 1)
	sched.subscribe(control, 1)
	op := mustDial(t, addr, "operator")

	request := func(id, replyTo string) string {
		return fmt.Sprintf(`{"v":1,"request_id":%q,"reply_to":%q}`, id, replyTo)
	}
	own := "tether/v1/" + testRegion + "/replies/operator/"
	other := "tether/v1/" + testRegion + "/replies/operator2/"
	for _, topic := range []string{submit, control} {
		for _, c := range []struct {
			id, replyTo string
			passes      bool
		}{
			{"r1", other + "r1", false},
			{"r2", "tether/v1/" + testRegion + "/replies/operator2", false},
			{"r3", "tether/v1/" + testRegion + "/replies/operatorx/r3", false},
			{"r4", "tether/v1/" + testRegion + "/replies/operator", false},
			{"r5", own + "r5", true},
			{"r6", own + "cli/r6", true},
			// Not a replies topic of this region: the scheduler refuses
			// and counts it (broker/serve TestServeTasks).
			{"r7", "tether/v1/eu-2/replies/operator2/r7", true},
		} {
			payload := request(c.id, c.replyTo)
			op.mustPublish(topic, 1, payload)
			op.barrier()
			if !c.passes {
				continue
			}
			// Requests reach the scheduler in order: a refused one before
			// this would show up here.
			for _, m := range sched.await(payload) {
				if string(m.Payload()) != payload {
					t.Errorf("%s: the scheduler received a request with a foreign reply_to: %s", topic, m.Payload())
				}
			}
		}
	}
	// A payload that does not decode is left to the scheduler (it answers
	// nothing either way).
	op.mustPublish(submit, 1, "not json")
	sched.await("not json")
}
