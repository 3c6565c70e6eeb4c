package ha

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
)

// Blobs is the region's blob bucket, a JetStream object store
// (natsconf.HABlobBucket: TETHER_<region>_BLOBS, file storage, the region
// stream's Replicas copies, at most MaxBytes): the scheduler's blob store
// replicated, so a successor serves what its predecessor acknowledged.
// An object is named by its blob's id (sha256:<hex>:<size>), so its name
// says what its bytes must be.
//
// The fence: nats.go's object store sets no expected-sequence header, and
// the bucket is another stream than the epoch's, so the stream cannot
// refuse a deposed scheduler's write the way it refuses its records.
// What protects the bucket instead:
//   - Put and Restore write nothing but bytes that hash to the object's
//     name (Put stores only what the local store verified; Restore refuses
//     an object whose digest or bytes are not its name's): a deposed
//     scheduler's Put of a name stores the very bytes already there;
//   - Delete first reads the lease from the region's stream and deletes
//     only while it names this term's holder and epoch (and the term is
//     valid, so the lease cannot run out before the delete is sent).
//
// Safe for concurrent use.
type Blobs struct {
	t      *Term
	obs    jetstream.ObjectStore
	stream jetstream.Stream
	bucket string

	mu   sync.Mutex                // guards puts
	puts map[blob.ID]chan struct{} // closed when that blob's Put ends
}

// metaSubject is the subject of object name's metadata in bucket, as
// nats.go's object store names it.
func metaSubject(bucket, name string) string {
	return "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// Blobs creates the region's blob bucket, or updates its configuration to
// this one, holding at most maxBytes (the stream's bytes: the objects and
// their per-message overhead). Only a valid term opens it. JetStream
// refuses a bucket larger than its nodes' free storage: that refusal is
// returned at once.
func (t *Term) Blobs(ctx context.Context, maxBytes int64) (*Blobs, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("ha: blob bucket: lease lost: %w", taskengine.ErrFenced)
	}
	bucket := natsconf.HABlobBucket(t.r.o.Region)
	cfg := jetstream.ObjectStoreConfig{
		Bucket:   bucket,
		Storage:  jetstream.FileStorage,
		Replicas: t.r.o.Replicas,
		MaxBytes: maxBytes,
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		obs, err := t.r.js.CreateOrUpdateObjectStore(actx, cfg)
		var st jetstream.Stream
		if err == nil {
			st, err = leaderReads(actx, t.r.js, "OBJ_"+bucket)
		}
		if err == nil {
			// Bound after the update, so its reads go to the leader.
			obs, err = t.r.js.ObjectStore(actx, bucket)
		}
		cancel()
		if err == nil {
			return &Blobs{t: t, obs: obs, stream: st, bucket: bucket, puts: map[blob.ID]chan struct{}{}}, nil
		}
		// JetStream's refusal (no room for maxBytes on enough nodes, a
		// conflicting configuration) stands; a request unanswered does not,
		// nor a placement refused because a peer is offline (a node
		// restarting, or the cluster just started and not yet all seen).
		var api *jetstream.APIError
		if errors.As(err, &api) && !peerOffline(api) || ctx.Err() != nil || !t.Valid() {
			return nil, fmt.Errorf("ha: blob bucket %s (%d bytes): %w", bucket, maxBytes, err)
		}
		t.r.log.Warn("ha: blob bucket not created or updated; trying again", "bucket", bucket, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// peerOffline says JetStream refused a placement only because a peer is
// offline ("no suitable peers for placement, peer offline"): that passes.
// One refused for room ("insufficient storage") stands.
func peerOffline(api *jetstream.APIError) bool {
	return strings.Contains(api.Description, "peer offline") && !strings.Contains(api.Description, "insufficient")
}

// listAttempt bounds List's first attempt at listing the blob bucket,
// readAttempt the first of Has's and Restore's.
const (
	listAttempt = 10 * time.Second
	readAttempt = 5 * time.Second
)

// whileNoResponder runs read again every 250 ms while it finds no
// responder and ctx lasts: JetStream answers nothing for a stream that is
// electing its leader (just created, a node restarted), which passes.
func whileNoResponder(ctx context.Context, read func() error) error {
	for {
		err := read()
		if !errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// leaderReads turns the bucket's direct gets off and returns its stream.
// nats.go's object store makes (and on every CreateOrUpdate, remakes) its
// stream with allow_direct, and any replica answers a direct get, so a
// read right after a write or a delete could be stale: CI saw Has true
// just after Delete. Without it reads go to the stream's leader, which
// has every acknowledged write.
func leaderReads(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	c := st.CachedInfo().Config
	if !c.AllowDirect {
		return st, nil
	}
	c.AllowDirect = false
	return js.UpdateStream(ctx, c)
}

// inAttempts runs op with a context of its own, first long at first and
// twice the last each time after, again while an attempt ran out of time
// or found no responder and ctx lasts. A request to a stream that had no
// leader yet, or one lost while a node restarted, goes unanswered and
// waited out its caller's whole context; asked again once the leader is
// there it is answered at once. An attempt may take twice the last, so a
// slow cluster or a big answer still gets through.
func inAttempts(ctx context.Context, log *slog.Logger, what string, first time.Duration, op func(ctx context.Context) error) error {
	for attempt := first; ; attempt *= 2 {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := whileNoResponder(actx, func() error { return op(actx) })
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		log.Warn("ha: "+what+": no answer in time; asking again", "err", err, "attempt", attempt)
	}
}

// unanswered says err is a request's that got no answer in time.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}

// matches says info is a whole object holding id's bytes by its digest.
func matches(info *jetstream.ObjectInfo, id blob.ID) bool {
	if info.Deleted || info.Size != uint64(id.Size) {
		return false
	}
	d, err := jetstream.DecodeObjectDigest(info.Digest)
	return err == nil && bytes.Equal(d, id.Sum[:])
}

// Has says the bucket holds id: its metadata describes id's bytes, and
// its chunks are all there (a Put that failed half-way leaves metadata
// without them). Restore verifies the bytes themselves.
func (b *Blobs) Has(ctx context.Context, id blob.ID) (bool, error) {
	var info *jetstream.ObjectInfo
	err := inAttempts(ctx, b.t.r.log, "blob "+id.String(), readAttempt, func(ctx context.Context) (err error) {
		info, err = b.obs.GetInfo(ctx, id.String())
		return err
	})
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ha: blob %s: %w", id, err)
	}
	if !matches(info, id) {
		return false, nil
	}
	if info.Chunks == 0 {
		return true, nil
	}
	chunks := "$O." + b.bucket + ".C." + info.NUID
	var si *jetstream.StreamInfo
	err = inAttempts(ctx, b.t.r.log, "blob "+id.String(), readAttempt, func(ctx context.Context) (err error) {
		si, err = b.stream.Info(ctx, jetstream.WithSubjectFilter(chunks))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ha: blob %s: %w", id, err)
	}
	return si.State.Subjects[chunks] == uint64(info.Chunks), nil
}

// ownerKey is the object metadata key of the operator a blob is charged
// to (Object.Owner).
const ownerKey = "tether-owner"

// Put stores id's size bytes from r unless the bucket holds id already,
// and returns once the stream has acknowledged every chunk and the
// metadata (stored on a quorum of replicas). The caller passes bytes
// it verified to be id's; bytes that turn out not to be are deleted again
// (an error wrapping blob.ErrCorrupt). owner, unless empty, is stored in
// the object's metadata and listed as its Owner; an object already held
// keeps its own. It writes only while the term is valid (taskengine.ErrFenced
// otherwise).
func (b *Blobs) Put(ctx context.Context, id blob.ID, r io.Reader, owner string) error {
	if !b.t.Valid() {
		return fmt.Errorf("ha: blob %s not replicated: lease lost: %w", id, taskengine.ErrFenced)
	}
	done, err := b.lock(ctx, id)
	if err != nil {
		return err
	}
	defer done()
	if ok, err := b.Has(ctx, id); err != nil || ok {
		return err
	}
	ctx, cancel := b.termContext(ctx)
	defer cancel()
	meta := jetstream.ObjectMeta{Name: id.String()}
	if owner != "" {
		meta.Metadata = map[string]string{ownerKey: owner}
	}
	info, err := b.obs.Put(ctx, meta, io.LimitReader(r, id.Size+1))
	if err != nil {
		// A chunk refused (the bucket is full) after the metadata went
		// out leaves metadata without its chunks: nothing of it stays.
		err = fmt.Errorf("ha: blob %s not replicated: %w", id, err)
		if derr := b.Delete(context.WithoutCancel(ctx), id); derr != nil {
			b.t.r.log.Warn("ha: a blob's failed put not cleaned up", "blob", id.String(), "err", derr)
		}
		return err
	}
	if !matches(info, id) {
		err := fmt.Errorf("ha: blob %s not replicated: %w: %d bytes, digest %s", id, blob.ErrCorrupt, info.Size, info.Digest)
		return errors.Join(err, b.Delete(ctx, id))
	}
	return nil
}

// lock waits until no other Put of id runs here, and takes its turn.
func (b *Blobs) lock(ctx context.Context, id blob.ID) (unlock func(), err error) {
	for {
		b.mu.Lock()
		busy, ok := b.puts[id]
		if !ok {
			ch := make(chan struct{})
			b.puts[id] = ch
			b.mu.Unlock()
			return func() {
				b.mu.Lock()
				delete(b.puts, id)
				b.mu.Unlock()
				close(ch)
			}, nil
		}
		b.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// termContext is ctx, ended too when the term is lost.
func (b *Blobs) termContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.t.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Restore copies id from the bucket into st, continuing what st holds of
// it, and returns once st installed it: st verifies the bytes against id
// as it does a transfer's. An object whose metadata does not describe
// id's bytes is not read (an error wrapping blob.ErrCorrupt), nor is one
// the bucket does not hold (blob.ErrNotFound).
func (b *Blobs) Restore(ctx context.Context, id blob.ID, st *blob.Store) error {
	if st.Has(id) {
		return nil
	}
	// As inAttempts, but each attempt goes on from what the store holds
	// already, and one that moved the blob on is no unanswered request: the
	// next one gets the same time (a big blob takes many).
	for attempt := readAttempt; ; {
		before := st.Written(id)
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := whileNoResponder(actx, func() error { return b.restore(actx, id, st) })
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		if st.Written(id) > before {
			continue
		}
		b.t.r.log.Warn("ha: blob "+id.String()+": no answer in time; asking again", "err", err, "attempt", attempt)
		attempt *= 2
	}
}

// restore is one attempt of Restore.
func (b *Blobs) restore(ctx context.Context, id blob.ID, st *blob.Store) error {
	res, err := b.obs.Get(ctx, id.String())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("ha: blob %s: %w in the region's bucket", id, blob.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("ha: blob %s: %w", id, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return fmt.Errorf("ha: blob %s: %w", id, err)
	}
	if !matches(info, id) {
		return fmt.Errorf("ha: blob %s: %w: the bucket's object has %d bytes, digest %s", id, blob.ErrCorrupt, info.Size, info.Digest)
	}
	if id.Size == 0 {
		_, err := st.Append(id, 0, nil)
		return err
	}
	off := st.Written(id)
	if _, err := io.CopyN(io.Discard, res, off); err != nil {
		return fmt.Errorf("ha: blob %s: %w", id, err)
	}
	buf := make([]byte, blob.MaxChunk)
	for off < id.Size {
		n, err := io.ReadFull(res, buf[:min(int64(len(buf)), id.Size-off)])
		if n > 0 {
			if _, aerr := st.Append(id, off, buf[:n]); aerr != nil {
				return fmt.Errorf("ha: blob %s: %w", id, aerr)
			}
			off += int64(n)
		}
		if err != nil && off < id.Size {
			return fmt.Errorf("ha: blob %s: read %d of %d bytes: %w", id, off, id.Size, err)
		}
	}
	if !st.Has(id) {
		return fmt.Errorf("ha: blob %s: restored, but not installed", id)
	}
	return nil
}

// Delete deletes id from the bucket, metadata included, if this term
// still holds the region: it reads the lease first and deletes nothing
// when another holder or a later epoch is there (taskengine.ErrFenced). A
// blob the bucket does not hold is no error.
func (b *Blobs) Delete(ctx context.Context, id blob.ID) error {
	if err := b.t.check(ctx); err != nil {
		return fmt.Errorf("ha: blob %s not deleted: %w", id, err)
	}
	ctx, cancel := b.termContext(ctx)
	defer cancel()
	err := b.obs.Delete(ctx, id.String())
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("ha: blob %s not deleted: %w", id, err)
	}
	// The delete left a marker as the name's metadata: purged, the name
	// leaves nothing in the stream.
	if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject(metaSubject(b.bucket, id.String()))); err != nil {
		return fmt.Errorf("ha: blob %s: metadata not purged: %w", id, err)
	}
	return nil
}

// Object is a blob the bucket holds, and when it was stored there (the
// servers' clock).
type Object struct {
	ID     blob.ID
	Stored time.Time
	// Owner is what the Put that stored it named: the operator whose
	// share it is charged to; the caller validates it.
	Owner string
}

// List returns the blobs the bucket holds. An object not named by a blob
// id is left out (nothing here writes one).
func (b *Blobs) List(ctx context.Context) ([]Object, error) {
	var infos []*jetstream.ObjectInfo
	err := inAttempts(ctx, b.t.r.log, "blob bucket listing", listAttempt, func(ctx context.Context) (err error) {
		infos, err = b.obs.List(ctx)
		return err
	})
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ha: blob bucket: %w", err)
	}
	var objs []Object
	for _, info := range infos {
		id, err := blob.ParseID(info.Name)
		if err != nil || !matches(info, id) {
			continue
		}
		objs = append(objs, Object{ID: id, Stored: info.ModTime, Owner: info.Metadata[ownerKey]})
	}
	return objs, nil
}

// check says the term still holds the region, as the stream has it: the
// lease names this holder, the epoch is the term's, and the term is valid.
func (t *Term) check(ctx context.Context) error {
	holder, epoch, err := t.r.Leader(ctx)
	if err != nil {
		return err
	}
	if holder != t.r.o.Holder || epoch != t.Epoch() || !t.Valid() {
		return fmt.Errorf("ha: the region is held by %q at epoch %d, not this term (epoch %d): %w", holder, epoch, t.Epoch(), taskengine.ErrFenced)
	}
	return nil
}
