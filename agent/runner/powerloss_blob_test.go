package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/scripts/powerloss/blobload"
)

// plBlobRate is the power-cut workload's link for task data, in bytes a
// second: a Pi's Wi-Fi at its slowest, so that each blob of the stream
// (3–4 MiB) takes about two seconds and most cuts land mid-transfer.
const plBlobRate = 2 << 20

// plBlobs is the power-cut task workload's transfer: while the task runs,
// the node fetches blobload's stream of blobs, one after another, into a
// blob store on the cut disk (dir, as an agent keeps <data_dir>/blobs),
// from a peer whose store is in memory, over the real blob protocol (two
// Endpoints wired in this process, the peer's chunks paced at
// plBlobRate). It keeps the last two blobs it fetched and removes older
// ones. It prints
//
//	TETHER-PL BLOB HAVE <k> <id>          at start: a complete blob whose bytes hash to its id
//	TETHER-PL BLOB CORRUPT <id> <why>     at start: a complete blob that does not (the harness fails the run)
//	TETHER-PL BLOB PARTIAL <id> <n>       at start: a transfer in progress, n bytes on disk
//	TETHER-PL BLOB LISTED                 the start's listing is complete
//	TETHER-PL BLOB FETCHING <k> <id>      a fetch of blob k begins
//	TETHER-PL BLOB FETCHED <k> <id> <n>   Fetch returned: the blob is installed; n bytes were on disk before it began
//	TETHER-PL BLOB REMOVING <k>           blob k is about to be removed: it may be missing from now on
//
// and BROKEN when the store or a fetch fails. It returns when ctx ends.
func plBlobs(ctx context.Context, dir string, say func(format string, args ...any), log *slog.Logger) {
	st, err := blob.Open(blob.Options{Dir: dir, Logger: log})
	if err != nil {
		say("BROKEN blob store open: %v", err)
		return
	}
	defer st.Close()
	have := listBlobs(dir, say)
	say("BLOB LISTED")
	keep := slices.Sorted(maps.Keys(have))
	for len(keep) > 2 { // a cut between a fetch and its removal
		say("BLOB REMOVING %d", keep[0])
		if err := st.Remove(have[keep[0]]); err != nil {
			say("BROKEN blob remove: %v", err)
			return
		}
		keep = keep[1:]
	}
	var next uint64
	if len(keep) > 0 {
		next = keep[len(keep)-1] + 1
	}

	// The peer's store is in memory: the guest's root is its initramfs,
	// which has no /tmp until this makes one.
	srcDir, err := os.MkdirTemp("", "pl-blob-src")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(os.TempDir(), 0o1777); err == nil {
			srcDir, err = os.MkdirTemp("", "pl-blob-src")
		}
	}
	if err != nil {
		say("BROKEN blob source: %v", err)
		return
	}
	defer os.RemoveAll(srcDir)
	src, err := blob.Open(blob.Options{Dir: srcDir, Logger: log})
	if err != nil {
		say("BROKEN blob source: %v", err)
		return
	}
	defer src.Close()
	var node, peer *blob.Endpoint
	node, err = blob.NewEndpoint(blob.EndpointOptions{Store: st, Logger: log,
		Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
			peer.Handle("node", frame)
			return nil
		}})
	if err == nil {
		peer, err = blob.NewEndpoint(blob.EndpointOptions{Store: src, Logger: log,
			Send: func(ctx context.Context, _ string, _ byte, frame []byte) error {
				select { // the link's pace: the sender waits for it
				case <-time.After(time.Duration(len(frame)) * time.Second / plBlobRate):
				case <-ctx.Done():
					return ctx.Err()
				}
				node.Handle("peer", frame)
				return nil
			}})
	}
	if err != nil {
		say("BROKEN blob endpoints: %v", err)
		return
	}
	go func() { _ = node.Run(ctx) }()
	go func() { _ = peer.Run(ctx) }()

	for k := next; ctx.Err() == nil; k++ {
		b := blobload.Content(k)
		id, err := src.Put(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			say("BROKEN blob source put: %v", err)
			return
		}
		say("BLOB FETCHING %d %s", k, id)
		stats, err := node.Fetch(ctx, "peer", id)
		if err != nil {
			if ctx.Err() == nil {
				say("BROKEN blob %d fetch: %v", k, err)
			}
			return
		}
		say("BLOB FETCHED %d %s %d", k, id, stats.Resumed)
		have[k] = id
		_ = src.Remove(id)
		if old, ok := have[k-2]; ok && k >= 2 {
			say("BLOB REMOVING %d", k-2)
			if err := st.Remove(old); err != nil {
				say("BROKEN blob remove: %v", err)
				return
			}
			delete(have, k-2)
		}
	}
}

// listBlobs prints what the store's directory holds (blob.Store's layout:
// sha256/<hex> complete, partial/<hex>-<size> in progress), re-hashing
// every complete blob, and returns the complete ones that verify by their
// number in the stream.
func listBlobs(dir string, say func(format string, args ...any)) map[uint64]blob.ID {
	have := map[uint64]blob.ID{}
	done, _ := os.ReadDir(filepath.Join(dir, "sha256"))
	for _, e := range done {
		path := filepath.Join(dir, "sha256", e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			say("BLOB CORRUPT sha256:%s unreadable: %v", e.Name(), err)
			continue
		}
		sum := sha256.Sum256(b)
		id := blob.ID{Sum: sum, Size: int64(len(b))}
		k, ok := blobload.Number(b)
		switch {
		case hex.EncodeToString(sum[:]) != e.Name():
			say("BLOB CORRUPT sha256:%s its %d bytes hash to %s", e.Name(), len(b), id.Hex())
		case !ok:
			say("BLOB CORRUPT %s shorter than a stream number", id)
		default:
			say("BLOB HAVE %d %s", k, id)
			have[k] = id
		}
	}
	partial, _ := os.ReadDir(filepath.Join(dir, "partial"))
	for _, e := range partial {
		h, size, _ := strings.Cut(e.Name(), "-")
		n := int64(-1)
		if fi, err := e.Info(); err == nil {
			n = fi.Size()
		}
		if _, err := strconv.ParseInt(size, 10, 64); err != nil {
			say("BLOB CORRUPT partial %s: no size", e.Name())
			continue
		}
		say("BLOB PARTIAL sha256:%s:%s %d", h, size, n)
	}
	return have
}
