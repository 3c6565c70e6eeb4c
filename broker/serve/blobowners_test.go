package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestOwnerRecordsLoad: load returns the records put, removes what is no
// record (counted) and what an interrupted write left (not counted), and
// a removed record is gone.
func TestOwnerRecordsLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := openOwnerRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testBlobID(10, 1), testBlobID(20, 2)
	for _, id := range []blob.ID{a, b, testBlobID(80, 8)} {
		if err := r.put(id, "operator/ops"); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.remove(testBlobID(80, 8)); err != nil {
		t.Fatal(err)
	}
	if err := r.remove(testBlobID(80, 8)); err != nil {
		t.Errorf("removing a record twice: %v", err)
	}
	bad := map[string]string{
		"nonsense":                "operator/ops", // no blob's name
		r.name(testBlobID(30, 3)): "node/pi-a",    // no operator
		r.name(testBlobID(40, 4)): "operator/a b", // no operator's name
		r.name(testBlobID(50, 5)): "operator/",
		r.name(testBlobID(60, 6)): "operator/" + strings.Repeat("x", maxOwnerRecord),
		r.name(testBlobID(70, 7)): "",
	}
	for name, content := range bad {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, ownerTmp+r.name(b)), []byte("operator/other"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := map[blob.ID]string{}
	n, first := r.load(func(id blob.ID, peer string) { got[id] = peer })
	if n != len(bad) || !errors.Is(first, errBadOwner) {
		t.Errorf("load: %d bad, first %v; want %d bad records", n, first, len(bad))
	}
	if len(got) != 2 || got[a] != "operator/ops" || got[b] != "operator/ops" {
		t.Errorf("load found %v, want %s and %s of operator/ops", got, a, b)
	}
	left, _ := os.ReadDir(r.dir)
	if len(left) != 2 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("records left after load: %v, want the two good ones", names)
	}
}

// startOperator connects operator ops with a blob store and endpoint of
// its own, as tether-broker submit --input does.
func startOperator(t *testing.T, url, clientID string, topics protocol.Topics) (*blob.Store, *blob.Endpoint) {
	st, err := blob.Open(blob.Options{Dir: t.TempDir(), Quota: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sess := dial(t, url, clientID, "ops", "ops-pw")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	e, err := blob.NewEndpoint(blob.EndpointOptions{Store: st, Send: blob.OperatorSend(sess, topics, "ops"), Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := blob.AttachOperator(ctx, sess, topics, "ops", e); err != nil {
		t.Fatal(err)
	}
	go func() { defer close(done); _ = e.Run(ctx) }()
	return st, e
}

// TestOperatorShareSurvivesRestart: an operator's upload stays charged to
// its share across a restart of the scheduler — an upload that fits only
// without the earlier one's charge is refused after it — and a corrupted
// owner record is survived: the scheduler starts, the upload is left
// uncharged, and the record is removed.
func TestOperatorShareSurvivesRestart(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	blobDir := filepath.Join(t.TempDir(), "blobs")
	s := newSiteCfg(t, nil, func(c *config.Config) {
		c.Blobs.Dir, c.Blobs.Quota, c.Blobs.NodeShare = blobDir, 8*mib, 2*mib
	})
	topics, _ := protocol.NewTopics("default")
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	upload := func(url, clientID string, data []byte) (blob.ID, error) {
		st, e := startOperator(t, url, clientID, topics)
		id, err := st.Put(strings.NewReader(string(data)), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return id, e.Offer(ctx, "", id)
	}
	first, err := upload(s.url, "ops@1", random(3*mib/2))
	if err != nil {
		t.Fatalf("the first upload: %v", err)
	}
	record := filepath.Join(blobDir, "owners", first.Hex()+"-1572864")
	if b, err := os.ReadFile(record); err != nil || string(b) != "operator/ops" {
		t.Fatalf("the first upload's owner record: %q, %v", b, err)
	}

	s.stop()
	s.start()
	second := random(mib)
	if _, err := upload(s.url, "ops@2", second); !errors.Is(err, blob.ErrRefused) || !strings.Contains(err.Error(), "share") {
		t.Fatalf("after a restart an upload past the operator's share with the first one: %v, want refused for the share", err)
	}

	// A corrupted record: the restart survives it, and the first upload
	// is no longer charged, so the second fits.
	if err := os.WriteFile(record, []byte("operator/\x00\xff"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.stop()
	s.start()
	id, err := upload(s.url, "ops@3", second)
	if err != nil {
		t.Fatalf("after a restart with a corrupted record of the first upload, the second: %v", err)
	}
	if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupted record is still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(blobDir, "owners", id.Hex()+"-1048576")); err != nil || string(b) != "operator/ops" {
		t.Errorf("the second upload's owner record: %q, %v", b, err)
	}
}

// TestCollectedUploadFreesItsCharge: an upload no task refers to is
// collected, its charge given back and its owner record removed, so the
// operator's next upload fits its share again.
func TestCollectedUploadFreesItsCharge(t *testing.T) {
	every, grace := blobGCEvery, blobGrace
	t.Cleanup(func() { blobGCEvery, blobGrace = every, grace }) // after the scheduler stopped
	blobGCEvery, blobGrace = 100*time.Millisecond, 500*time.Millisecond

	const mib = 1 << 20
	blobDir := filepath.Join(t.TempDir(), "blobs")
	s := newSiteCfg(t, nil, func(c *config.Config) {
		c.Blobs.Dir, c.Blobs.Quota, c.Blobs.NodeShare = blobDir, 8*mib, 2*mib
	})
	topics, _ := protocol.NewTopics("default")
	st, e := startOperator(t, s.url, "ops@1", topics)
	upload := func(n int) (blob.ID, error) {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		id, err := st.Put(strings.NewReader(string(data)), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return id, e.Offer(ctx, "", id)
	}
	first, err := upload(3 * mib / 2)
	if err != nil {
		t.Fatalf("the first upload: %v", err)
	}
	record := filepath.Join(blobDir, "owners", first.Hex()+"-1572864")
	testenv.Eventually(t, 10*time.Second, "the unreferenced upload and its owner record deleted", func() bool {
		_, errBlob := os.Stat(filepath.Join(blobDir, "sha256", first.Hex()))
		_, errRecord := os.Stat(record)
		return errors.Is(errBlob, os.ErrNotExist) && errors.Is(errRecord, os.ErrNotExist)
	})
	if _, err := upload(mib); err != nil {
		t.Errorf("an upload after the first one was collected: %v", err)
	}
}
