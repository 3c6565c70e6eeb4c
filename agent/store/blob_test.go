package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestBlobsRoundTripAndCollect: a large record and checkpoints come back
// byte for byte from their blobs; a replaced checkpoint's blob and an
// acknowledged record's blob are removed once the commit is durable; blobs
// a cut left behind (no reference, or an unfinished .tmp) are removed at
// Open; a blob altered on disk makes its record unreadable, counted and
// removed, never sent with wrong bytes.
func TestBlobsRoundTripAndCollect(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	const big = 40 << 10
	r := mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/a/status", big))
	cp1 := bytes.Repeat([]byte("one."), big/4)
	cp2 := bytes.Repeat([]byte("two."), big/4)
	for i, cp := range [][]byte{cp1, cp2} {
		tr := Transition{Attempt: 1, From: []string{"", "accepted"}[i], To: []string{"accepted", "running"}[i], At: time.Now()}
		if _, err := h.s.Journal(ctx, "t1", tr, cp, sized("tether/v1/n/tasks/t1/status", 100)); err != nil {
			t.Fatalf("Journal: %v", err)
		}
	}
	h.reopen()
	recs := pendingRecords(t, h.s)
	_, want, _ := sized("tether/v1/n/tasks/a/status", big)(r.Seq)
	if len(recs) == 0 || recs[0].Seq != r.Seq || !bytes.Equal(recs[0].Payload, want) {
		t.Fatalf("large record not read back whole")
	}
	got, ok, err := h.s.Checkpoint("t1")
	if err != nil || !ok || !bytes.Equal(got, cp2) {
		t.Fatalf("Checkpoint: %d bytes, found %v, %v; want the second checkpoint", len(got), ok, err)
	}
	if files := blobFiles(t, h.dir); len(files) != 2 {
		t.Fatalf("blobs %v: want the record's and the last checkpoint's", files)
	}

	// Leftovers of a cut.
	for _, name := range []string{"o00000000000000ff", "c00000000000000fe.tmp"} {
		if err := os.WriteFile(filepath.Join(h.dir, blobDir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()
	if files := blobFiles(t, h.dir); len(files) != 2 || slices.Contains(files, "o00000000000000ff") {
		t.Fatalf("blobs %v after Open: orphans kept", files)
	}

	if err := h.s.Ack(r.Seq); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if files := blobFiles(t, h.dir); len(files) != 1 || files[0][0] != 'c' {
		t.Fatalf("blobs %v: the acknowledged record's blob is still there", files)
	}

	// Damage: a large record whose blob is altered on disk.
	r2 := mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/b/status", big))
	p := filepath.Join(h.dir, blobDir, blobName(outboxKey(r2.Seq), r2.Seq))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rec := range pendingRecords(t, h.s) {
		if rec.Seq == r2.Seq {
			t.Fatalf("record %d listed from an altered blob", r2.Seq)
		}
	}
	h.reopen() // Close commits the removal
	if c := h.s.OutboxStats().Corrupt; c != 1 {
		t.Errorf("Corrupt = %d, want 1", c)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the altered blob is still there: %v", err)
	}
}
