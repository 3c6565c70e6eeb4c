package powerloss

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/scripts/powerloss/blobload"
)

// The task workload also fetches a stream of blobs (blobload) into the
// agent's blob store on the cut disk while its task runs, as a node
// receives task data (agent/runner's plBlobs), and prints
//
//	TETHER-PL BLOB HAVE <k> <id>          at start: a complete blob whose bytes hash to its id
//	TETHER-PL BLOB CORRUPT <text>         at start: a complete blob whose bytes do not
//	TETHER-PL BLOB PARTIAL <id> <n>       at start: a transfer in progress, n bytes on disk
//	TETHER-PL BLOB LISTED                 the start's listing is complete
//	TETHER-PL BLOB FETCHING <k> <id>      a fetch of blob k begins
//	TETHER-PL BLOB FETCHED <k> <id> <n>   the blob is installed; n bytes were on disk before the fetch
//	TETHER-PL BLOB REMOVING <k>           blob k may be missing from now on
//
// BlobLedger checks them across boots: a blob installed is listed, whole,
// by every later listing until it is removed; no complete blob is ever
// corrupt; a partial file belongs to the fetch the cut interrupted; and
// each blob k is the stream's. A cut between FETCHING and FETCHED is a cut
// mid-transfer: the run must make at least one.

// BlobEvent is what a BLOB line says.
type BlobEvent int

const (
	BlobHave BlobEvent = iota + 1
	BlobCorrupt
	BlobPartial
	BlobListed
	BlobFetching
	BlobFetched
	BlobRemoving
)

// BlobLine is a BLOB line's content.
type BlobLine struct {
	Event BlobEvent
	K     uint64 // HAVE, FETCHING, FETCHED, REMOVING: the blob's number in the stream
	ID    string // HAVE, PARTIAL, FETCHING, FETCHED: its id (sha256:<hex>:<size>)
	N     int64  // PARTIAL: bytes on disk; FETCHED: bytes on disk before the fetch
	Text  string // CORRUPT
}

// parseBlob parses the words after BLOB; an event word this harness does
// not know makes a KindOther line.
func parseBlob(f []string) (Line, error) {
	l := Line{Kind: KindBlob}
	if len(f) == 0 {
		return l, fmt.Errorf("BLOB wants an event")
	}
	b := &l.Blob
	args := f[1:]
	want := func(n int, form string) error {
		if len(args) != n {
			return fmt.Errorf("BLOB %s wants %s", f[0], form)
		}
		return nil
	}
	var err error
	switch f[0] {
	case "HAVE", "FETCHING":
		b.Event = BlobHave
		if f[0] == "FETCHING" {
			b.Event = BlobFetching
		}
		if err = want(2, "<k> <id>"); err == nil {
			b.K, b.ID, err = parseNumberID(args[0], args[1])
		}
	case "FETCHED":
		b.Event = BlobFetched
		if err = want(3, "<k> <id> <n>"); err == nil {
			b.K, b.ID, err = parseNumberID(args[0], args[1])
		}
		if err == nil {
			b.N, err = parseOffset(args[2], b.ID)
		}
	case "PARTIAL":
		b.Event = BlobPartial
		if err = want(2, "<id> <n>"); err == nil {
			b.ID, err = parseBlobID(args[0])
		}
		if err == nil {
			b.N, err = parseOffset(args[1], b.ID)
		}
	case "CORRUPT":
		b.Event, b.Text = BlobCorrupt, strings.Join(args, " ")
	case "LISTED":
		b.Event = BlobListed
		err = want(0, "nothing more")
	case "REMOVING":
		b.Event = BlobRemoving
		if err = want(1, "<k>"); err == nil {
			b.K, err = strconv.ParseUint(args[0], 10, 64)
		}
	default:
		return Line{Kind: KindOther, Text: "BLOB " + f[0]}, nil
	}
	return l, err
}

func parseNumberID(k, id string) (uint64, string, error) {
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("blob number %q: %w", k, err)
	}
	s, err := parseBlobID(id)
	return n, s, err
}

func parseBlobID(s string) (string, error) {
	id, err := blob.ParseID(s)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// parseOffset parses a byte count within the blob id names.
func parseOffset(s, id string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("byte count %q: %w", s, err)
	}
	b, _ := blob.ParseID(id)
	if n < 0 || n > b.Size {
		return 0, fmt.Errorf("byte count %d outside blob %s", n, id)
	}
	return n, nil
}

// BlobStats are the transfer's counts over a run.
type BlobStats struct {
	Fetched      int   // blobs installed (FETCHED)
	Resumed      int   // fetches that began from bytes a cut left on disk
	ResumedBytes int64 // those bytes, summed
	MidTransfer  int   // cuts made between a FETCHING and its FETCHED
	Listings     int   // complete listings (LISTED)
	Verified     int   // complete blobs found whole by a listing (the workload re-hashes each)
	Corrupt      int   // complete blobs that were not
	Lost         int   // blobs installed and not removed that a later listing did not find
	Problems     []string
}

func (s *BlobStats) problem(format string, args ...any) {
	if len(s.Problems) < maxProblems {
		s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
	}
}

// OK reports whether the transfer's invariants held over a run that cut
// at least one transfer.
func (s *BlobStats) OK() bool {
	return len(s.Problems) == 0 && s.Corrupt == 0 && s.Lost == 0 && s.Fetched > 0 && s.MidTransfer > 0
}

func (s *BlobStats) String() string {
	return fmt.Sprintf("task data: %d blobs fetched, %d cuts mid-transfer, %d fetches resumed from %d KiB a cut left, %d listings re-hashed %d complete blobs: %d corrupt, %d lost\n",
		s.Fetched, s.MidTransfer, s.Resumed, s.ResumedBytes>>10, s.Listings, s.Verified, s.Corrupt, s.Lost)
}

// BlobLedger checks the BLOB lines across boots. It does no I/O.
type BlobLedger struct {
	BlobStats
	kept     map[uint64]string // installed and not being removed: k → id
	from     map[uint64]int    // the boot that installed k
	fetching string            // the id of a fetch begun and not ended, "" none
	ids      map[uint64]string // the stream's ids, as computed
}

// streamID is blob k's id in blobload's stream.
func (l *BlobLedger) streamID(k uint64) string {
	if id, ok := l.ids[k]; ok {
		return id
	}
	if l.ids == nil {
		l.ids = map[uint64]string{}
	}
	b := blobload.Content(k)
	id := blob.ID{Sum: sha256.Sum256(b), Size: int64(len(b))}.String()
	l.ids[k] = id
	return id
}

// Apply checks boot n's lines; cut says the boot ended in a power cut.
func (l *BlobLedger) Apply(n int, lines []Line, cut bool) {
	if l.kept == nil {
		l.kept, l.from = map[uint64]string{}, map[uint64]int{}
	}
	listed := map[uint64]string{}
	listedNow := false
	began := l.fetching // the fetch the last cut interrupted
	l.fetching = ""
	beganLeft := false // began's partial listed and not fetched again in this boot
	for _, ln := range lines {
		if ln.Kind != KindBlob {
			continue
		}
		b := ln.Blob
		switch b.Event {
		case BlobHave:
			l.Verified++
			listed[b.K] = b.ID
			if want := l.streamID(b.K); b.ID != want {
				l.problem("boot %d: blob %d listed as %s, the stream's is %s", n, b.K, b.ID, want)
			}
		case BlobCorrupt:
			l.Corrupt++
			l.problem("boot %d: a complete blob is corrupt: %s", n, b.Text)
		case BlobPartial:
			if b.ID != began {
				l.problem("boot %d: a partial blob %s (%d bytes) that no interrupted fetch began", n, b.ID, b.N)
			} else {
				beganLeft = true
			}
		case BlobListed:
			listedNow = true
			l.Listings++
			for k, id := range l.kept {
				if listed[k] != id {
					l.Lost++
					l.problem("boot %d: blob %d, installed in boot %d, is not listed", n, k, l.from[k])
					delete(l.kept, k)
				}
			}
			for k, id := range listed {
				if _, ok := l.kept[k]; !ok {
					l.kept[k], l.from[k] = id, n
				}
			}
		case BlobFetching:
			l.fetching = b.ID
			if want := l.streamID(b.K); b.ID != want {
				l.problem("boot %d: fetching blob %d as %s, the stream's is %s", n, b.K, b.ID, want)
			}
		case BlobFetched:
			l.Fetched++
			if b.ID != l.fetching {
				l.problem("boot %d: blob %d fetched as %s, not the fetch begun (%q)", n, b.K, b.ID, l.fetching)
			}
			l.fetching = ""
			if b.N > 0 {
				l.Resumed++
				l.ResumedBytes += b.N
			}
			l.kept[b.K], l.from[b.K] = b.ID, n
		case BlobRemoving:
			delete(l.kept, b.K)
		}
	}
	if !listedNow {
		// Cut before the workload listed its store: the fetch the
		// earlier cut interrupted is still the one on disk.
		l.fetching = began
		return
	}
	if cut && l.fetching != "" {
		l.MidTransfer++
	}
	if l.fetching == "" && beganLeft {
		// Cut after the listing but before the fetch began again: its
		// partial stays on disk for the next boot to resume. (Not a
		// mid-transfer cut: no transfer ran.)
		l.fetching = began
	}
}
