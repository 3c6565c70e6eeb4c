package ha

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-edge/tether/broker/taskengine"
)

// tombstoneTTL is how long a delete's tombstone stays in the stream. An
// absent record and a tombstone read the same; the TTL only keeps
// tombstones from piling up.
const tombstoneTTL = "10m"

// writeTimeout bounds a Commit's first wait for the stream's answer (a
// node's loss moves the stream's leader in a few seconds); commitTime
// bounds its attempts in all: an unanswered batch is written again, with
// twice the time, while the term holds.
const (
	writeTimeout = 15 * time.Second
	commitTime   = 3 * writeTimeout
)

// keyEnc maps a record key onto one subject token.
var keyEnc = base32.HexEncoding.WithPadding(base32.NoPadding)

// remotePrefix is the key prefix whose values stay in the stream: finished
// tasks, the store's bulk, read rarely.
var remotePrefix = []byte("f/")

var errClosed = errors.New("ha: task store closed")

// backend is the task store replicated in the region's stream, written
// only while its Term holds the region: every message expects the epoch
// subject to be at the Term's epoch, so the stream refuses it once a later
// term exists.
//
// Memory: an ordered index of every record's key (a B-tree: adding or
// removing a key is O(log records), BenchmarkIndexTaskLifecycle), with the
// value of every record but finished tasks' (f/…), whose values Get and
// Scan fetch from the stream one by one.
type backend struct {
	t *Term
	r *Region

	cmu    sync.Mutex // serialises Commit; guards failed
	failed error      // sticky: after a refused or unknown commit
	// send is the package's publish; a test makes attempts go
	// unanswered.
	send func(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (uint64, error)

	mu     sync.RWMutex // guards keys, vals, closed
	keys   *btree.BTreeG[string]
	vals   map[string]entry
	closed bool
	done   chan struct{} // closed by Close
}

type entry struct {
	v      []byte
	remote bool // v is not held: read it from the stream
}

var _ taskengine.Backend = (*backend)(nil)

// Backend loads the region's task store (the last message of every record
// subject) and returns it, writable while t holds the region. It holds
// every record's key in memory, and every value but finished tasks' (f/…),
// which Get and Scan read from the stream.
func (t *Term) Backend(ctx context.Context) (taskengine.Backend, error) {
	create := createTimeout
	for {
		b := newBackend(t)
		// A request lost while a node dies goes unanswered: each attempt
		// has its own timeout, and the consumer's creation one that
		// doubles up to the attempt's, for a cluster slow to answer.
		actx, cancel := context.WithTimeout(ctx, loadTimeout)
		err := b.load(actx, create)
		cancel()
		create = min(2*create, loadTimeout)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil || !t.Valid() {
			return nil, err
		}
		t.r.log.Warn("ha: task store not loaded; trying again", "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// loadTimeout bounds one attempt to load the store, createTimeout the
// consumer's creation in the first attempt.
const (
	loadTimeout   = 30 * time.Second
	createTimeout = 5 * time.Second
)

func (b *backend) subject(key []byte) string {
	return b.r.names.data + "." + keyEnc.EncodeToString(key)
}

// load reads the last message of every record subject through an ephemeral
// consumer (not nats.go's ordered one: this one's creation says how many
// messages it will deliver, so an empty store loads without a wait).
func (b *backend) load(ctx context.Context, createWithin time.Duration) error {
	filter := b.r.names.data + ".>"
	// The creation is a request to the stream's leader: one lost while a
	// node restarts, or asked before the stream has a leader, costs
	// createWithin, and Backend asks again.
	cctx, cancel := context.WithTimeout(ctx, createWithin)
	defer cancel()
	c, err := b.r.stream.CreateConsumer(cctx, jetstream.ConsumerConfig{
		FilterSubject: filter, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("ha: load: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.r.stream.DeleteConsumer(dctx, c.CachedInfo().Name) // else it goes after InactiveThreshold
	}()
	pending := c.CachedInfo().NumPending
	for pending > 0 {
		// No more than pending: Fetch returns once it has them all, rather
		// than at MaxWait.
		batch, err := c.Fetch(int(min(pending, 512)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("ha: load: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("ha: load: %w", err)
			}
			pending = meta.NumPending
			if err := b.loadMsg(m.Subject(), m.Headers(), m.Data()); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("ha: load: %w", err)
		}
		if n == 0 { // the rest expired (tombstones) meanwhile
			break
		}
	}
	return nil
}

func (b *backend) loadMsg(subject string, h nats.Header, data []byte) error {
	tok := strings.TrimPrefix(subject, b.r.names.data+".")
	k, err := keyEnc.DecodeString(tok)
	if err != nil || len(k) == 0 {
		return fmt.Errorf("ha: load: subject %s is no record key", subject)
	}
	if h.Get(hdrDeleted) != "" {
		return nil
	}
	ks := string(k)
	b.keys.ReplaceOrInsert(ks)
	b.vals[ks] = newEntry(k, data)
	return nil
}

// indexDegree is the index's B-tree degree: nodes of up to 63 keys.
const indexDegree = 32

func newBackend(t *Term) *backend {
	b := &backend{t: t, send: publish, keys: btree.NewOrderedG[string](indexDegree), vals: map[string]entry{}, done: make(chan struct{})}
	if t != nil {
		b.r = t.r
	}
	return b
}

func newEntry(k, v []byte) entry {
	if bytes.HasPrefix(k, remotePrefix) {
		return entry{remote: true}
	}
	return entry{v: append([]byte{}, v...)} // non-nil: an empty value is not an absent one
}

// fetch reads key's value from the stream; nil when absent.
func (b *backend) fetch(key []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	m, err := b.r.stream.GetLastMsgForSubject(ctx, b.subject(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ha: get %q: %w", key, err)
	}
	if m.Header.Get(hdrDeleted) != "" {
		return nil, nil
	}
	if m.Data == nil {
		return []byte{}, nil
	}
	return m.Data, nil
}

func (b *backend) Get(key []byte) ([]byte, error) {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, errClosed
	}
	e, ok := b.vals[string(key)]
	b.mu.RUnlock()
	switch {
	case !ok:
		return nil, nil
	case e.remote:
		return b.fetch(key)
	}
	return bytes.Clone(e.v), nil
}

// scanChunk is how many records Scan copies out of the index at a time: fn
// runs without the index's lock, so it may call Get or take long.
const scanChunk = 256

func (b *backend) Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error {
	from, inclusive := string(prefix), true
	if after != nil && bytes.Compare(after, prefix) >= 0 {
		from, inclusive = string(after), false
	}
	for {
		b.mu.RLock()
		if b.closed {
			b.mu.RUnlock()
			return errClosed
		}
		var chunk []string
		var vals []entry
		b.keys.AscendGreaterOrEqual(from, func(k string) bool {
			if !strings.HasPrefix(k, string(prefix)) || len(chunk) == scanChunk {
				return false
			}
			if k == from && !inclusive {
				return true
			}
			chunk = append(chunk, k)
			if values {
				vals = append(vals, b.vals[k])
			}
			return true
		})
		b.mu.RUnlock()
		if len(chunk) == 0 {
			return nil
		}
		for j, k := range chunk {
			var v []byte
			if values {
				v = vals[j].v
				if vals[j].remote {
					var err error
					if v, err = b.fetch([]byte(k)); err != nil {
						return err
					}
					if v == nil { // deleted since the chunk was copied
						continue
					}
				}
			}
			if more, err := fn([]byte(k), v); err != nil || !more {
				return err
			}
		}
		from, inclusive = chunk[len(chunk)-1], false
	}
}

// Commit publishes the units in order, as few atomic batches as the
// server's batch limit allows, never splitting a unit; each batch is
// acknowledged once stored on a quorum of the stream's replicas.
func (b *backend) Commit(units []taskengine.Unit) error {
	b.cmu.Lock()
	defer b.cmu.Unlock()
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return errClosed
	}
	if b.failed != nil {
		return b.failed
	}
	var batch []*nats.Msg
	var applied []taskengine.Write
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := b.publish(batch); err != nil {
			b.failed = err
			return err
		}
		b.apply(applied)
		batch, applied = batch[:0], applied[:0]
		return nil
	}
	for _, u := range units {
		if len(u) > maxBatch {
			return fmt.Errorf("ha: commit: a unit of %d writes; an atomic batch takes %d", len(u), maxBatch)
		}
		if len(batch)+len(u) > maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		for _, w := range u {
			if len(w.Key) == 0 {
				return errors.New("ha: commit: empty key")
			}
			batch = append(batch, b.msg(w))
			applied = append(applied, w)
		}
	}
	return flush()
}

func (b *backend) msg(w taskengine.Write) *nats.Msg {
	m := nats.NewMsg(b.subject(w.Key))
	if w.Value == nil {
		m.Header.Set(hdrDeleted, "1")
		m.Header.Set(hdrTTL, tombstoneTTL)
	} else {
		m.Data = w.Value
	}
	expect(m, b.r.names.epoch, b.t.Epoch())
	return m
}

// publish stores one batch while the term holds; a refusal of the epoch
// check, or a term lost before or during the write, is taskengine.ErrFenced.
//
// A batch the stream did not answer in time (a node restarting, a leader
// being elected) is written again: whether the first copy was stored is
// unknown, and a second copy stores the same values under the same keys,
// so the store ends the same either way — the epoch check still refuses
// it once another scheduler holds the region. Before, one unanswered
// write stopped the scheduler and handed the region to the standby, which
// faced the same cluster.
func (b *backend) publish(batch []*nats.Msg) error {
	if !b.t.Valid() {
		return fmt.Errorf("ha: commit: lease lost: %w", taskengine.ErrFenced)
	}
	ctx, cancel := context.WithTimeout(b.t.ctx, commitTime)
	defer cancel()
	err := inAttempts(ctx, b.r.log, "task store commit", writeTimeout, func(ctx context.Context) error {
		_, err := b.send(ctx, b.r.nc, batch)
		return err
	})
	switch {
	case err == nil:
		return nil
	case wrongSeq(err):
		return fmt.Errorf("ha: commit refused at epoch %s: %w (%v)", strconv.FormatUint(b.t.Epoch(), 10), taskengine.ErrFenced, err)
	case !b.t.Valid():
		return fmt.Errorf("ha: commit: lease lost: %w (%v)", taskengine.ErrFenced, err)
	}
	return fmt.Errorf("ha: commit: %w", err)
}

func (b *backend) apply(ws []taskengine.Write) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range ws {
		k := string(w.Key)
		if w.Value == nil {
			b.keys.Delete(k)
			delete(b.vals, k)
			continue
		}
		b.keys.ReplaceOrInsert(k)
		b.vals[k] = newEntry(w.Key, w.Value)
	}
}

// Run has no upkeep to do (the stream compacts itself); it returns when
// ctx ends or the store is closed.
func (b *backend) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-b.done:
	}
	return nil
}

func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	return nil
}
