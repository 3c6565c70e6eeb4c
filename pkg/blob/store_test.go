package blob

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openStore(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	o.Dir = dir
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readBlob(t *testing.T, s *Store, id ID) []byte {
	t.Helper()
	f, err := s.OpenBlob(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutStoresOnceByContent(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	data := randomBytes(1, 300_000)
	id, err := s.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if id != Of(data) {
		t.Fatalf("id %s, want %s", id, Of(data))
	}
	again, err := s.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil || again != id {
		t.Fatalf("second put: %s, %v", again, err)
	}
	if used, _ := s.Usage(); used != int64(len(data)) {
		t.Fatalf("used %d after storing the same bytes twice, want %d", used, len(data))
	}
	if got := readBlob(t, s, id); !bytes.Equal(got, data) {
		t.Fatal("blob reads back different bytes")
	}
	if fi, err := os.Stat(filepath.Join(s.opts.Dir, "sha256", id.Hex())); err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("blob file: %v, %v; want mode 0400", fi, err)
	}
}

func TestPutOfTheWrongLengthStoresNothing(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	for _, size := range []int64{9, 11} {
		if _, err := s.Put(strings.NewReader("0123456789"), size); err == nil {
			t.Fatalf("put of 10 bytes declared as %d succeeded", size)
		}
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("used %d after failed puts", used)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.opts.Dir, "tmp")); len(ents) != 0 {
		t.Fatalf("failed puts left %d temporary files", len(ents))
	}
}

// appendAll feeds data to the store in chunks from off.
func appendAll(t *testing.T, s *Store, id ID, data []byte, off int64) error {
	t.Helper()
	for off < int64(len(data)) {
		end := min(off+MaxChunk, int64(len(data)))
		done, err := s.Append(id, off, data[off:end])
		if err != nil {
			return err
		}
		if done != (end == id.Size) {
			t.Fatalf("append at %d: done %v", off, done)
		}
		off = end
	}
	return nil
}

func TestAppendResumesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	data := randomBytes(2, 5*MaxChunk+77)
	id := Of(data)
	s := openStore(t, dir, Options{})
	if err := appendAll(t, s, id, data[:2*MaxChunk], 0); err != nil {
		t.Fatal(err)
	}
	if s.Has(id) {
		t.Fatal("a partial blob is reported complete")
	}
	if _, err := s.OpenBlob(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open of a partial blob: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, Options{})
	if w := s.Written(id); w != 2*MaxChunk {
		t.Fatalf("written %d after reopen, want %d", w, 2*MaxChunk)
	}
	if used, _ := s.Usage(); used != id.Size {
		t.Fatalf("used %d, want the partial blob's reserved %d", used, id.Size)
	}
	var oe *OffsetError
	if _, err := s.Append(id, 0, data[:10]); !errors.As(err, &oe) || oe.Have != 2*MaxChunk {
		t.Fatalf("append at 0 of a partial blob: %v, want an OffsetError saying %d", err, 2*MaxChunk)
	}
	if err := appendAll(t, s, id, data, 2*MaxChunk); err != nil {
		t.Fatal(err)
	}
	if !s.Has(id) || !bytes.Equal(readBlob(t, s, id), data) {
		t.Fatal("resumed blob is not complete and equal")
	}
	if done, err := s.Append(id, 0, data[:1]); !done || err != nil {
		t.Fatalf("append to a complete blob: %v %v, want done", done, err)
	}
}

func TestAppendOfWrongBytesNeverYieldsABlob(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	data := randomBytes(3, 3*MaxChunk)
	id := Of(data)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	if err := appendAll(t, s, id, bad, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("append of flipped bytes: %v, want ErrCorrupt", err)
	}
	if s.Has(id) || s.Written(id) != 0 {
		t.Fatalf("after a corrupt transfer: has %v, written %d; want nothing kept", s.Has(id), s.Written(id))
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("used %d after a corrupt transfer", used)
	}
	if err := appendAll(t, s, id, data, 0); err != nil || !s.Has(id) {
		t.Fatalf("transfer again from zero: %v", err)
	}
}

// TestPowerCutMidTransferNeverYieldsACorruptBlob stands for what a power
// cut can leave of a partial blob — a tail of bytes that were never
// written (zeros where the filesystem extended the file before its data
// reached the card), or a whole file whose rename never happened — and
// checks that the store never lets a blob that does not match its ID be
// read, and that a good whole partial blob is installed at Open.
func TestPowerCutMidTransferNeverYieldsACorruptBlob(t *testing.T) {
	data := randomBytes(4, 4*MaxChunk)
	id := Of(data)
	t.Run("zeros past the synced length", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir, Options{})
		if err := appendAll(t, s, id, data[:MaxChunk], 0); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		f, err := os.OpenFile(s.partialPath(id), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, MaxChunk), MaxChunk); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		s = openStore(t, dir, Options{})
		if err := appendAll(t, s, id, data, s.Written(id)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("finishing a partial blob with a zero tail: %v, want ErrCorrupt", err)
		}
		if s.Has(id) {
			t.Fatal("a corrupt blob is in the store")
		}
	})
	t.Run("whole but not renamed", func(t *testing.T) {
		for _, corrupt := range []bool{false, true} {
			dir := t.TempDir()
			s := openStore(t, dir, Options{})
			if err := appendAll(t, s, id, data[:3*MaxChunk], 0); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			tail := bytes.Clone(data[3*MaxChunk:])
			if corrupt {
				tail[0] ^= 0x80
			}
			if err := os.WriteFile(s.partialPath(id), append(bytes.Clone(data[:3*MaxChunk]), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, Options{})
			if s.Has(id) == corrupt {
				t.Fatalf("corrupt %v: has %v after Open", corrupt, s.Has(id))
			}
			if corrupt && s.Written(id) != 0 {
				t.Fatalf("a corrupt whole partial blob kept %d bytes", s.Written(id))
			}
			if !corrupt && !bytes.Equal(readBlob(t, s, id), data) {
				t.Fatal("installed blob differs")
			}
		}
	})
}

func TestQuotaAndLimitsGiveClearErrors(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Quota: 1000, MaxBlob: 800})
	a, b := randomBytes(5, 600), randomBytes(6, 600)
	if _, err := s.Put(bytes.NewReader(a), 600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(bytes.NewReader(b), 600)
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "needs 600 bytes, 600 of the quota's 1000 are in use") {
		t.Fatalf("put past the quota: %v", err)
	}
	if _, err := s.Append(Of(b), 0, b[:100]); !errors.Is(err, ErrQuota) {
		t.Fatalf("transfer past the quota: %v, want ErrQuota", err)
	}
	big := randomBytes(7, 900)
	if _, err := s.Append(Of(big), 0, big[:100]); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "at most 800") {
		t.Fatalf("transfer of a blob past MaxBlob: %v", err)
	}
	if used, _ := s.Usage(); used != 600 {
		t.Fatalf("used %d after refusals, want 600", used)
	}
}

func TestGCDeletesWhatIsNotKept(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	keep, drop, part := randomBytes(8, 1000), randomBytes(9, 2000), randomBytes(10, 3000)
	kid, _ := s.Put(bytes.NewReader(keep), 1000)
	if _, err := s.Put(bytes.NewReader(drop), 2000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(Of(part), 0, part[:100]); err != nil {
		t.Fatal(err)
	}
	n, freed, err := s.GC(func(id ID) bool { return id == kid })
	if err != nil || n != 2 || freed != 5000 {
		t.Fatalf("gc: %d blobs, %d bytes, %v; want 2, 5000", n, freed, err)
	}
	_ = s.Close()
	s = openStore(t, dir, Options{})
	if used, _ := s.Usage(); used != 1000 || !s.Has(kid) || s.Written(Of(part)) != 0 {
		t.Fatalf("after gc and reopen: used %d, kept %v, partial %d", used, s.Has(kid), s.Written(Of(part)))
	}
}

// TestGCBeforeKeepsWhatIsNew: an unclaimed blob, complete or partial,
// whose file changed after the cut-off is kept; once it is older it goes.
func TestGCBeforeKeepsWhatIsNew(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	old, fresh, part := randomBytes(11, 1000), randomBytes(12, 2000), randomBytes(13, 3000)
	oid, _ := s.Put(bytes.NewReader(old), 1000)
	fid, _ := s.Put(bytes.NewReader(fresh), 2000)
	if _, err := s.Append(Of(part), 0, part[:100]); err != nil {
		t.Fatal(err)
	}
	cut := time.Now().Add(-time.Minute)
	long := cut.Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "sha256", oid.Hex()), long, long); err != nil {
		t.Fatal(err)
	}
	n, freed, err := s.GCBefore(func(ID) bool { return false }, cut)
	if err != nil || n != 1 || freed != 1000 {
		t.Fatalf("gc before %v: %d blobs, %d bytes, %v; want only the old one", cut, n, freed, err)
	}
	if s.Has(oid) || !s.Has(fid) || s.Written(Of(part)) != 100 {
		t.Fatalf("after gc: old %v, fresh %v, partial %d", s.Has(oid), s.Has(fid), s.Written(Of(part)))
	}
	if n, _, _ := s.GCBefore(func(ID) bool { return false }, time.Now().Add(time.Minute)); n != 2 {
		t.Fatalf("gc of everything older than now: %d, want the fresh blob and the partial", n)
	}
}

// TestTouchKeepsAnOldBlob: an old unclaimed blob, complete or partial,
// touched before a collection is kept by it; Touch reports a blob the
// store does not hold, or no longer holds, as false.
func TestTouchKeepsAnOldBlob(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	b, part := randomBytes(21, 1000), randomBytes(22, 3000)
	id, _ := s.Put(bytes.NewReader(b), 1000)
	if _, err := s.Append(Of(part), 0, part[:100]); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{filepath.Join(dir, "sha256", id.Hex()), s.partialPath(Of(part))} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Touch(id) || !s.Touch(Of(part)) {
		t.Fatal("Touch of a held blob reported false")
	}
	if n, _, err := s.GCBefore(func(ID) bool { return false }, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("gc after the touches: %d deleted, %v; want none", n, err)
	}
	if s.Touch(Of(randomBytes(23, 10))) {
		t.Error("Touch of a blob never stored reported true")
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if s.Touch(id) {
		t.Error("Touch of a removed blob reported true")
	}
}

func TestOpenRemovesWhatIsNoBlob(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	_ = s.Close()
	junk := []string{"tmp/put-123", "sha256/not-a-digest", "partial/zz-12"}
	for _, j := range junk {
		if err := os.WriteFile(filepath.Join(dir, j), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, dir, Options{})
	for _, j := range junk {
		if _, err := os.Stat(filepath.Join(dir, j)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open: %v", j, err)
		}
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("used %d", used)
	}
}
