package ha

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestOnlySchedulersTouchTheStream: on the real cluster, with natsconf's
// permissions, a node's and a monitor's credentials are refused publishing
// a lease or an epoch and calling the stream's JetStream API; the lease
// stays the scheduler's.
func TestOnlySchedulersTouchTheStream(t *testing.T) {
	c := startRegion(t)
	r, _ := c.open(t, "a", 0)
	tm := mustCampaign(t, r)
	n := r.names
	for _, user := range []string{"pi-1", "mon"} {
		var mu sync.Mutex
		var refused []string
		nc := c.connect(t, user, 1, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			refused = append(refused, err.Error())
			mu.Unlock()
		}))
		forged := []string{n.lease, n.epoch, n.data + ".ME", "$JS.API.STREAM.INFO." + n.stream,
			"$JS.API.STREAM.DELETE." + n.stream, "$JS.API.STREAM.PURGE." + n.stream, "$JS.API.STREAM.MSG.DELETE." + n.stream}
		for _, subj := range forged {
			m := nats.NewMsg(subj)
			m.Data = []byte(`{"holder":"` + user + `","epoch":99}`)
			if strings.HasSuffix(subj, ".lease") || strings.HasSuffix(subj, ".epoch") {
				m.Header.Set(hdrExpectSubjSeq, "0")
			}
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := nc.SubscribeSync(n.prefix + ".>"); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			all := strings.Join(refused, "\n")
			mu.Unlock()
			missing := ""
			for _, subj := range forged {
				if !strings.Contains(all, `Permissions Violation for Publish to "`+subj+`"`) {
					missing = subj
				}
			}
			if !strings.Contains(all, `Permissions Violation for Subscription to "`+n.prefix+`.>"`) {
				missing = "subscribe " + n.prefix + ".>"
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s not refused; refusals:\n%s", user, missing, all)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	holder, epoch, err := r.Leader(ctx)
	if err != nil || holder != "a" || epoch != tm.Epoch() || !tm.Valid() {
		t.Errorf("after the forgeries: Leader = %q %d %v, term valid %v; want a %d", holder, epoch, err, tm.Valid(), tm.Epoch())
	}
}
