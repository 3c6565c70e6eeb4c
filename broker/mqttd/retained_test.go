package mqttd

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestRetainedReplayIsComplete: a new subscriber to 6,000 retained topics
// gets every one of them, at QoS 1 and 0, although its pending-writes queue
// (MaxPendingWrites, 1,024 by default) holds a sixth of them — mochi alone
// dropped what did not fit.
func TestRetainedReplayIsComplete(t *testing.T) {
	const topics = 6000
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	sched := mustDial(t, addr, "scheduler")
	var toks []paho.Token
	for i := range topics {
		topic := fmt.Sprintf("tether/v1/%s/nodes/n-%05d/status", testRegion, i)
		toks = append(toks, sched.pc.Publish(topic, 1, true, fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, 0)))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("retained publish: %v", tok.Error())
		}
	}
	sched.barrier()
	for _, qos := range []byte{1, 0} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			mon := mustDial(t, addr, "monitor")
			got := map[string]bool{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for len(got) < topics {
					select {
					case m := <-mon.msgs:
						if m.Retained() {
							got[m.Topic()] = true
						}
					case <-time.After(5 * time.Second):
						return // nothing more is coming
					}
				}
			}()
			if code := mon.subscribe(fmt.Sprintf("tether/v1/%s/nodes/+/status", testRegion), qos); code != qos {
				t.Fatalf("subscription granted %#x", code)
			}
			<-done
			if len(got) != topics {
				t.Fatalf("a new subscriber got %d of %d retained messages", len(got), topics)
			}
		})
	}
}
