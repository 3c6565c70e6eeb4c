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
// a lease, an epoch or a signing key, calling the stream's JetStream API
// (reading a message or making a consumer too), and subscribing to the
// stream's subjects, the signing key's or the schedulers' inboxes; the
// lease stays the scheduler's.
func TestOnlySchedulersTouchTheStream(t *testing.T) {
	c := startRegion(t)
	r, _ := c.open(t, "a", 0)
	tm := mustCampaign(t, r)
	n := r.names
	forged := []string{n.lease, n.epoch, n.data + ".ME", n.key, "$JS.API.STREAM.INFO." + n.stream,
		"$JS.API.STREAM.DELETE." + n.stream, "$JS.API.STREAM.PURGE." + n.stream, "$JS.API.STREAM.MSG.DELETE." + n.stream,
		"$JS.API.STREAM.MSG.GET." + n.stream, "$JS.API.DIRECT.GET." + n.stream, "$JS.API.DIRECT.GET." + n.stream + "." + n.key,
		"$JS.API.CONSUMER.CREATE." + n.stream, "$JS.API.CONSUMER.CREATE." + n.stream + ".c." + n.key}
	for _, user := range []string{"pi-1", "mon"} {
		assertRefused(t, c, user, forged, n.prefix+".>")
		// The region's signing key: neither on its subject nor in the
		// answers to the scheduler's reads (its _INBOX.>).
		assertRefused(t, c, user, nil, n.key)
		assertRefused(t, c, user, nil, "_INBOX.>")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	holder, epoch, err := r.Leader(ctx)
	if err != nil || holder != "a" || epoch != tm.Epoch() || !tm.Valid() {
		t.Errorf("after the forgeries: Leader = %q %d %v, term valid %v; want a %d", holder, epoch, err, tm.Valid(), tm.Epoch())
	}
}

// TestOnlySchedulersTouchTheBlobBucket: a node's and a monitor's
// credentials are refused writing, reading and deleting the region's blob
// bucket, by its subjects and by its stream's JetStream API; the
// scheduler's blob stays.
func TestOnlySchedulersTouchTheBlobBucket(t *testing.T) {
	c := startRegion(t)
	r, _ := c.open(t, "a", 0)
	b := mustBlobs(t, mustCampaign(t, r))
	id := putBlob(t, openStore(t), b, []byte("an operator's input"), "operator/ops")
	o := "OBJ_" + b.bucket
	meta := metaSubject(b.bucket, id.String())
	forged := []string{meta, "$O." + b.bucket + ".C.forged",
		"$JS.API.STREAM.INFO." + o, "$JS.API.STREAM.UPDATE." + o, "$JS.API.STREAM.DELETE." + o, "$JS.API.STREAM.PURGE." + o,
		"$JS.API.STREAM.MSG.GET." + o, "$JS.API.STREAM.MSG.DELETE." + o, "$JS.API.DIRECT.GET." + o + "." + meta,
		"$JS.API.CONSUMER.CREATE." + o, "$JS.API.CONSUMER.CREATE." + o + ".c.$O." + b.bucket + ".C.>"}
	for _, user := range []string{"pi-1", "mon"} {
		assertRefused(t, c, user, forged, "$O."+b.bucket+".>")
	}
	// Room for a read that goes unanswered and is asked again (inAttempts):
	// beside a whole make test, one took more than 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok, err := b.Has(ctx, id); !ok || err != nil {
		t.Errorf("after the forgeries: Has = %v, %v", ok, err)
	}
	if err := b.Restore(ctx, id, openStore(t)); err != nil {
		t.Errorf("after the forgeries: %v", err)
	}
}

// assertRefused publishes on every forged subject and subscribes to sub
// as user, and waits until the cluster has refused each.
func assertRefused(t *testing.T, c region, user string, forged []string, sub string) {
	t.Helper()
	var mu sync.Mutex
	var refused []string
	nc := c.connect(t, user, 1, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		refused = append(refused, err.Error())
		mu.Unlock()
	}))
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
	if _, err := nc.SubscribeSync(sub); err != nil {
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
		if !strings.Contains(all, `Permissions Violation for Subscription to "`+sub+`"`) {
			missing = "subscribe " + sub
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not refused; refusals:\n%s", user, missing, all)
		}
		time.Sleep(50 * time.Millisecond) // kept: polling the NATS cluster, a real external process
	}
}
