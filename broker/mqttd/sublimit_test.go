package mqttd

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestSubscriptionLimit: a client other than a scheduler holds at most
// MaxSubscriptionsPerClient filters; one over is refused in the SUBACK
// (0x80), a filter it holds already is replaced (granted), and one freed by
// an UNSUBSCRIBE can be taken again. A scheduler has no limit.
func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.MaxSubscriptionsPerClient = 4
	s := startServer(t, o)
	addr := s.Addr().String()
	filter := func(i int) string { return fmt.Sprintf("tether/v1/%s/fleet/nodes/pi-%02d", testRegion, i) }
	subscribe := func(c *client, from, to int) map[string]byte {
		t.Helper()
		fs := map[string]byte{}
		for i := from; i < to; i++ {
			fs[filter(i)] = 1
		}
		tok := c.pc.SubscribeMultiple(fs, nil)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		return tok.(*paho.SubscribeToken).Result()
	}
	granted := func(codes map[string]byte) (n int) {
		for _, c := range codes {
			if c < 0x80 {
				n++
			}
		}
		return n
	}
	mon := mustDial(t, addr, "monitor")
	if n := granted(subscribe(mon, 0, 3)); n != 3 {
		t.Fatalf("%d of 3 filters granted under a limit of 4", n)
	}
	if n := granted(subscribe(mon, 2, 6)); n != 2 { // pi-02 held: replaced; pi-03 the fourth; pi-04, pi-05 over
		t.Fatalf("%d of 4 filters granted (one held, one more allowed, two over the limit)", n)
	}
	if tok := mon.pc.Unsubscribe(filter(0)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("unsubscribe: %v", tok.Error())
	}
	if codes := subscribe(mon, 4, 5); codes[filter(4)] >= 0x80 {
		t.Fatalf("a filter refused after an unsubscribe made room: %v", codes)
	}
	sched := mustDial(t, addr, "scheduler")
	if n := granted(subscribe(sched, 0, 10)); n != 10 {
		t.Fatalf("a scheduler was granted %d of 10 filters: it has no limit", n)
	}
}
