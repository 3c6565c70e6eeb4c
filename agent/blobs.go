package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tether-edge/tether/agent/config"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// blobDir is where the agent keeps task data, beside (not in) its Badger
// store: a 20 MB input stays a plain file instead of crossing the value
// log and its compactions on an SD card.
func blobDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "blobs") }

// openBlobs opens the agent's blob store under cfg.Blobs.Quota. It does
// not write unless a transfer or an interrupted one needs it, so it is
// opened after the disk-full wait, like the store.
func openBlobs(cfg config.Config, log *slog.Logger) (*blob.Store, error) {
	bs, err := blob.Open(blob.Options{Dir: blobDir(cfg), Quota: cfg.Blobs.Quota, Logger: log.With("component", "blobs")})
	if err != nil {
		return nil, fmt.Errorf("opening the blob store: %w", err)
	}
	return bs, nil
}

// newBlobEndpoint serves bs to the scheduler and fetches from it, over
// the uplink's session on the node's blob topics. Frames arrive through
// the uplink's OnBlob.
func newBlobEndpoint(cfg config.Config, bs *blob.Store, sess *session.Session, log *slog.Logger) (*blob.Endpoint, error) {
	topics, err := protocol.NewTopics(cfg.Region)
	if err != nil {
		return nil, err
	}
	// Confirm: the scheduler measures its link to the node from the inputs
	// it serves (docs/scheduling.md, links measured live).
	return blob.NewEndpoint(blob.EndpointOptions{Store: bs, Send: blob.NodeSend(sess, topics, cfg.NodeID),
		Confirm: true, Logger: log.With("component", "blobs")})
}

// runBlobs serves the scheduler's wants until ctx ends.
func runBlobs(ctx context.Context, e *blob.Endpoint, log *slog.Logger) {
	if err := e.Run(ctx); err != nil {
		log.Error("blob endpoint stopped: no task data is served until the agent restarts", "err", err)
	}
}

// taskBlobs is the runner's view of the agent's task data.
type taskBlobs struct {
	store *blob.Store
	ep    *blob.Endpoint
	log   *slog.Logger
}

// missingFor is how long a fetch keeps asking for an input the scheduler
// says it does not hold: it may be fetching it from the node that
// produced it (an input from node/<id>).
const missingFor = 5 * time.Minute

// Fetch gets id from the scheduler unless the store holds it.
func (b taskBlobs) Fetch(ctx context.Context, id blob.ID) error {
	start := time.Now()
	for {
		st, err := b.ep.Fetch(ctx, "", id)
		if err == nil {
			if st.Written > 0 {
				b.log.Info("input fetched", "blob", id.String(), "bytes", st.Written, "resumed_from", st.Resumed,
					"elapsed_ms", st.Elapsed.Milliseconds(), "retries", st.Retries)
			}
			return nil
		}
		if !errors.Is(err, blob.ErrNotFound) || time.Since(start) > missingFor {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(2 * time.Second):
		}
	}
}

func (b taskBlobs) Path(id blob.ID) (string, error) { return b.store.Path(id) }

func (b taskBlobs) Put(r io.Reader, size int64) (blob.ID, error) { return b.store.Put(r, size) }
