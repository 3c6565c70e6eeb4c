package powerloss

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/scripts/powerloss/blobload"
)

// streamID is blob k's id, computed here apart from the ledger's cache.
func streamID(k uint64) string {
	b := blobload.Content(k)
	return blob.ID{Sum: sha256.Sum256(b), Size: int64(len(b))}.String()
}

// blobBoot parses a boot's BLOB lines, written without the prefix.
func blobBoot(t *testing.T, lines ...string) []Line {
	t.Helper()
	var out []Line
	for _, s := range lines {
		l, ok, err := ParseLine("TETHER-PL BLOB " + s)
		if !ok || err != nil {
			t.Fatalf("%q: ok %v, %v", s, ok, err)
		}
		out = append(out, l)
	}
	return out
}

// TestBlobLedger follows a transfer across cuts: a fetch interrupted,
// resumed from its partial in the next boot, the blobs installed listed
// whole until removed; then each way the store could fail it.
func TestBlobLedger(t *testing.T) {
	id0, id1, id2 := streamID(0), streamID(1), streamID(2)
	good := [][]Line{
		blobBoot(t, "LISTED", "FETCHING 0 "+id0, "FETCHED 0 "+id0+" 0", "FETCHING 1 "+id1), // cut mid-transfer
		nil, // cut while booting
		blobBoot(t, "HAVE 0 "+id0, "PARTIAL "+id1+" 1048576", "LISTED", "FETCHING 1 "+id1, "FETCHED 1 "+id1+" 1048576",
			"FETCHING 2 "+id2, "FETCHED 2 "+id2+" 0", "REMOVING 0"),
		blobBoot(t, "HAVE 1 "+id1, "HAVE 2 "+id2, "LISTED"), // the final boot
	}
	run := func(boots [][]Line) *BlobLedger {
		var l BlobLedger
		for n, b := range boots {
			l.Apply(n, b, n < len(boots)-1)
		}
		return &l
	}
	l := run(good)
	want := BlobStats{Fetched: 3, Resumed: 1, ResumedBytes: 1 << 20, MidTransfer: 1, Listings: 3, Verified: 3}
	if fmt.Sprint(l.BlobStats) != fmt.Sprint(want) || !l.OK() {
		t.Fatalf("stats %+v (ok %v), want %+v", l.BlobStats, l.OK(), want)
	}

	// A cut after the listing shows the interrupted fetch's partial but
	// before that fetch begins again: the partial is still the one an
	// interrupted fetch began in the boot after (CI, seed
	// 1796699263934256962, reported it as a stray).
	late := [][]Line{
		blobBoot(t, "LISTED", "FETCHING 0 "+id0),      // cut mid-transfer
		blobBoot(t, "PARTIAL "+id0+" 4096", "LISTED"), // cut before the fetch began again
		blobBoot(t, "PARTIAL "+id0+" 4096", "LISTED", "FETCHING 0 "+id0, "FETCHED 0 "+id0+" 4096"),
		blobBoot(t, "HAVE 0 "+id0, "LISTED"),
	}
	if l := run(late); !l.OK() || l.MidTransfer != 1 || l.Resumed != 1 {
		t.Fatalf("a partial left across a cut before its fetch began again: stats %+v, problems %v; want ok, 1 mid-transfer, 1 resumed",
			l.BlobStats, l.Problems)
	}

	for _, c := range []struct {
		name  string
		edit  func([][]Line) [][]Line
		wants string
	}{
		{"an installed blob missing", func(b [][]Line) [][]Line {
			b[3] = blobBoot(t, "HAVE 2 "+id2, "LISTED")
			return b
		}, "blob 1, installed in boot 2, is not listed"},
		{"a corrupt blob", func(b [][]Line) [][]Line {
			b[3] = append(blobBoot(t, "CORRUPT sha256:00 hashes to something else"), b[3]...)
			return b
		}, "corrupt"},
		{"a blob that is not the stream's", func(b [][]Line) [][]Line {
			b[3] = blobBoot(t, "HAVE 1 "+id2, "HAVE 2 "+id2, "LISTED")
			return b
		}, "blob 1 listed as"},
		{"a partial blob no fetch began", func(b [][]Line) [][]Line {
			b[3] = blobBoot(t, "HAVE 1 "+id1, "HAVE 2 "+id2, "PARTIAL "+id0+" 4096", "LISTED")
			return b
		}, "no interrupted fetch began"},
	} {
		l := run(c.edit(append([][]Line(nil), good...)))
		if l.OK() || !strings.Contains(strings.Join(l.Problems, "\n"), c.wants) {
			t.Errorf("%s: ok %v, problems %q, want one saying %q", c.name, l.OK(), l.Problems, c.wants)
		}
	}

	// A run that never cut a transfer proves nothing about one.
	calm := run([][]Line{
		blobBoot(t, "LISTED", "FETCHING 0 "+id0, "FETCHED 0 "+id0+" 0"),
		blobBoot(t, "HAVE 0 "+id0, "LISTED"),
	})
	if calm.OK() || calm.MidTransfer != 0 {
		t.Errorf("a run without a cut mid-transfer: ok %v, mid-transfer %d", calm.OK(), calm.MidTransfer)
	}
}

// TestParseBlobLines: byte counts outside the blob and bad ids are
// malformed lines; an unknown BLOB word is ignored.
func TestParseBlobLines(t *testing.T) {
	id := streamID(3)
	for _, s := range []string{"FETCHED 3 " + id + " -1", "FETCHED 3 " + id + fmt.Sprintf(" %d", blobload.Size(3)+1),
		"PARTIAL sha256:zz:10 0", "HAVE x " + id, "LISTED now", "REMOVING"} {
		if _, ok, err := ParseLine("TETHER-PL BLOB " + s); !ok || err == nil {
			t.Errorf("%q: ok %v, err %v; want a malformed line", s, ok, err)
		}
	}
	if l, ok, err := ParseLine("TETHER-PL BLOB SOMETHING 1"); !ok || err != nil || l.Kind != KindOther {
		t.Errorf("unknown word: %+v %v %v", l, ok, err)
	}
}
