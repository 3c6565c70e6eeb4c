package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestFetchesFromTheSchedulerMeasureTheLinkToTheNode: pi-a fetches blobs
// the scheduler holds, confirming each as an agent does. A 1 MiB fetch is
// a sample of the direction to the node, shown as up_mbps in its row; a
// 100 KiB one is too small to be one, and a fetch that lost a chunk and
// asked again measures the wait, not the link: neither adds a sample. A
// node that does not confirm (an older agent) adds none either. The
// direction from the node is left alone.
func TestFetchesFromTheSchedulerMeasureTheLinkToTheNode(t *testing.T) {
	blobDir := filepath.Join(t.TempDir(), "blobs")
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	st, err := blob.Open(blob.Options{Dir: blobDir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []blob.ID
	for _, n := range []int{100 << 10, 1 << 20, 1 << 20, 1 << 20} {
		id, err := st.Put(bytes.NewReader(random(n)), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_ = st.Close()
	tiny, whole, retried, unconfirmed := ids[0], ids[1], ids[2], ids[3]
	s := newSiteCfg(t, nil, func(c *config.Config) {
		c.Blobs.Dir, c.Placement.LinkProbe = blobDir, 0
		// The link's sample counts, which the test reads from the row,
		// go out at the idle refresh: as often as the row refresh here.
		c.FleetRowIdleRefresh = c.RowRefresh()
	})
	topics, _ := protocol.NewTopics("default")

	sess := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	birth, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i-pi-a", TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "pi-a", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}})
	if err := sess.Publish(context.Background(), session.Message{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: birth}); err != nil {
		t.Fatal(err)
	}
	mon := dial(t, s.url, "ops@t", "ops", "ops-pw")
	rows := listen(t, mon, topics.FleetRow("pi-a"))
	testenv.Eventually(t, 10*time.Second, "pi-a's row", func() bool { return len(rows.all()) > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var confirm atomic.Bool
	var lose atomic.Int64 // the offset of a chunk to lose once; -1 for none
	lose.Store(-1)
	var e *blob.Endpoint
	node, err := blob.Open(blob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	send := blob.NodeSend(sess, topics, "pi-a")
	e, err = blob.NewEndpoint(blob.EndpointOptions{Store: node, Retry: 300 * time.Millisecond, Confirm: true,
		Send: func(ctx context.Context, peer string, qos byte, frame []byte) error {
			if m, _ := blob.Decode(frame); m.Type == blob.TypeHave && !confirm.Load() {
				return nil // an agent that predates the have
			}
			return send(ctx, peer, qos, frame)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Subscribe(ctx, topics.NodeCommand("pi-a", protocol.CmdBlob), 1, func(m session.Message) {
		if c, err := blob.Decode(m.Payload); err == nil && c.Type == blob.TypeChunk && lose.CompareAndSwap(c.Offset, -1) {
			return // lost on the way
		}
		e.Handle("", m.Payload)
	}); err != nil {
		t.Fatal(err)
	}
	upSamples := func() (n uint64, row *protocol.LinkEstimate) {
		for _, m := range rows.all() {
			if r, err := protocol.DecodeFleetRow(m.Payload); err == nil && r.Link != nil && r.Link.UpMbpsSamples >= n {
				n, row = r.Link.UpMbpsSamples, r.Link
			}
		}
		return n, row
	}
	fetch := func(id blob.ID) blob.FetchStats {
		t.Helper()
		fs, err := e.Fetch(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}

	// cleanFetch fetches id again until a fetch takes no retry: on a loaded
	// host a chunk can come later than the node's 300 ms retry, and such a
	// fetch is no sample either.
	cleanFetch := func(id blob.ID) blob.FetchStats {
		t.Helper()
		for try := 1; ; try++ {
			if err := node.Remove(id); err != nil {
				t.Fatal(err)
			}
			fs := fetch(id)
			if fs.Retries == 0 {
				return fs
			}
			if try == 5 {
				t.Fatalf("five fetches of %s in a row took a retry (the last %d)", id, fs.Retries)
			}
			t.Logf("the fetch took %d retries (a slow chunk): fetching again", fs.Retries)
		}
	}

	confirm.Store(true)
	fetch(tiny)
	fs := cleanFetch(whole)
	var link *protocol.LinkEstimate
	testenv.Eventually(t, 10*time.Second, "pi-a's link to it measured", func() bool {
		var n uint64
		n, link = upSamples()
		return n >= 1
	})
	t.Logf("1 MiB fetched in %v (the node's clock); the scheduler measured %.1f Mbit/s to pi-a", fs.Elapsed, link.UpMbps)
	if link.UpMbpsSamples != 1 || link.MbpsSamples != 0 || link.UpMbps <= 0 {
		t.Fatalf("pi-a's link %+v: want one sample up (not the 100 KiB fetch), none down", link)
	}
	// The scheduler's time runs from the first want's arrival to the have's:
	// less than the node's from sending its first want to installing the
	// blob, plus a round trip on loopback.
	if nodeMbps := float64(whole.Size) * 8 / 1e6 / fs.Elapsed.Seconds(); link.UpMbps < nodeMbps*0.5 {
		t.Errorf("the scheduler measured %.1f Mbit/s, the node %.1f: the serving side's time is too long", link.UpMbps, nodeMbps)
	}

	lose.Store(3 * blob.MaxChunk)
	if fs := fetch(retried); fs.Retries == 0 {
		t.Fatal("the fetch took no retry: the test proves nothing")
	}
	confirm.Store(false)
	fetch(unconfirmed)
	// A confirmed fetch after them shows that their samples, had there
	// been any, would be in the row by now.
	confirm.Store(true)
	cleanFetch(whole)
	testenv.Eventually(t, 20*time.Second, "the last fetch measured", func() bool {
		n, _ := upSamples()
		return n >= 2
	})
	if n, l := upSamples(); n != 2 {
		t.Fatalf("pi-a's link %+v after a retried and an unconfirmed fetch and another whole one: want 2 samples up", l)
	}
}
