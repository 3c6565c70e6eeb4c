package store

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// rawUpdate writes to a closed store's Badger directly.
func rawUpdate(t *testing.T, dir string, fn func(*badger.Txn) error) {
	t.Helper()
	db, rec, err := kv.Open(dir, kv.Device(), nil)
	if err != nil || rec != nil {
		t.Fatalf("kv.Open = %v, %v", rec, err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func set(k, v []byte) func(*badger.Txn) error {
	return func(txn *badger.Txn) error { return txn.Set(k, v) }
}

// Damage the store's sequence or tasks depend on moves it aside: a fresh
// store with a new id starts a new sequence.
func TestDamagedStateMovesTheStoreAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(*badger.Txn) error
	}{
		{"next seq", set(keyNext, []byte("xx"))},
		{"store id", set(keyID, []byte("not hex"))},
		{"counters", set(keyCounters, []byte{1, 2, 3, 4, 5})},
		{"epoch", set(keyEpoch, []byte("xx"))},
		{"epoch past 2^53-1", set(keyEpoch, encodeEpoch(1<<53))},
		{"epoch bit flipped", func(txn *badger.Txn) error { v := encodeEpoch(5); v[8] ^= 1; return txn.Set(keyEpoch, v) }},
		{"task state", set(taskKey("t"), []byte{1, 0, 0, 0, 0})},
		{"checkpoint", set(checkpointKey("t"), append([]byte{1}, make([]byte, 20)...))},
		{"transition", set(journalKey("t", 1), []byte("x"))},
		{"version lost", func(txn *badger.Txn) error { return txn.Delete(keyVersion) }},
		{"version zero", set(keyVersion, []byte{0, 0, 0, 0})},
		{"next seq behind the outbox", set(keyNext, u64Value(2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for range 3 {
				mustAppend(t, h.s, KindMetrics, payload("a/b"))
			}
			id := h.s.ID()
			if err := h.s.Close(); err != nil {
				t.Fatal(err)
			}
			h.s = nil
			rawUpdate(t, h.dir, tc.damage)
			s, rec, err := Open(h.dir, h.opts)
			if err != nil {
				t.Fatal(err)
			}
			h.s = s
			if rec == nil || !strings.Contains(rec.Reason, "agent store") {
				t.Fatalf("Recovery = %+v", rec)
			}
			if _, err := os.Stat(rec.MovedTo); err != nil {
				t.Errorf("the damaged store was not kept: %v", err)
			}
			if s.ID() == id {
				t.Fatal("the fresh store kept the damaged one's id")
			}
			if got := pendingSeqs(t, s); len(got) != 0 {
				t.Fatalf("fresh store has records %v", got)
			}
			if r := mustAppend(t, s, KindMetrics, payload("a/b")); r.Seq != 1 {
				t.Fatalf("fresh store's first seq = %d", r.Seq)
			}
		})
	}
}

// A store written by a newer agent is refused, not taken for damage.
func TestNewerSchemaIsRefused(t *testing.T) {
	h := newHarness(t)
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = nil
	rawUpdate(t, h.dir, set(keyVersion, u32Value(2)))
	_, rec, err := Open(h.dir, h.opts)
	if !errors.Is(err, ErrNewerSchema) || rec != nil {
		t.Fatalf("Open of a schema 2 store = %v, %v", rec, err)
	}
	rawUpdate(t, h.dir, set(keyVersion, u32Value(1)))
	h.open()
	diff(t, "records kept", []uint64{1}, pendingSeqs(t, h.s))
}

// An outbox record that cannot be read back is removed and counted, at
// open or when Pending meets it; the rest of the outbox is kept.
func TestUnreadableRecordsAreCounted(t *testing.T) {
	h := newHarness(t)
	for range 4 {
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
	}
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = nil
	good := encodeRecord(Record{Seq: 2, Kind: KindMetrics, Topic: "a/b", QoS: 1})
	good[len(good)-1] ^= 1
	rawUpdate(t, h.dir, set(outboxKey(2), good))
	h.open()
	diff(t, "pending after open", []uint64{1, 3, 4}, pendingSeqs(t, h.s))
	if st := h.s.OutboxStats(); st.Corrupt != 1 || st.Count != 3 {
		t.Fatalf("stats = %+v", st)
	}
	// Damage met by Pending while the store is open.
	if err := h.s.db.Update(set(outboxKey(3), []byte{recordFormat})); err != nil {
		t.Fatal(err)
	}
	diff(t, "pending", []uint64{1, 4}, pendingSeqs(t, h.s))
	h.reopen()
	diff(t, "pending after reopen", []uint64{1, 4}, pendingSeqs(t, h.s))
	if st := h.s.OutboxStats(); st.Corrupt != 2 || st.Count != 2 {
		t.Fatalf("stats after reopen = %+v", st)
	}
}

// A file-level damage found by pkg/kv is reported the same way.
func TestDamagedFilesMoveTheStoreAside(t *testing.T) {
	h := newHarness(t)
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = nil
	if err := os.WriteFile(h.dir+"/MANIFEST", []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec, err := Open(h.dir, h.opts)
	if err != nil || rec == nil {
		t.Fatalf("Open = %v, %v", rec, err)
	}
	h.s = s
	if r := mustAppend(t, s, KindMetrics, payload("a/b")); r.Seq != 1 {
		t.Fatalf("seq %d", r.Seq)
	}
}
