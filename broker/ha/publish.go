package ha

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// The JetStream headers this package sets. nats.go 1.56 has no atomic
// batch publish, so batches are written as nats-server's
// jetstream_batching.go reads them: every message carries the batch id and
// its 1-based sequence, the last one also Nats-Batch-Commit: 1; the server
// stores all or none, and only the commit is answered.
const (
	hdrTTL             = "Nats-TTL"
	hdrExpectSubjSeq   = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectSubjSeqOn = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrBatchID         = "Nats-Batch-Id"
	hdrBatchSeq        = "Nats-Batch-Sequence"
	hdrBatchCommit     = "Nats-Batch-Commit"
	// hdrDeleted marks a record's tombstone (its body is empty).
	hdrDeleted = "Tether-Deleted"
)

// maxBatch is nats-server's default limit on an atomic batch's messages
// (streamDefaultMaxAtomicBatchSize; jetstream.limits.max_batch_size).
const maxBatch = 1000

// JetStream error codes (nats-server's errors.json) this package acts on.
const (
	codeWrongLastSeq         = 10071 // an expected-last-sequence check failed
	codeWrongLastSeqConstant = 10164 // the expected subject was being written
)

// apiError is JetStream's answer to a refused publish.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("jetstream: %s (%d)", e.Description, e.ErrCode)
}

// wrongSeq says err is an expected-last-sequence refusal.
func wrongSeq(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.ErrCode == codeWrongLastSeq || ae.ErrCode == codeWrongLastSeqConstant)
}

type pubAck struct {
	Error  *apiError `json:"error"`
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
	Count  int       `json:"count"`
}

// expect makes m's storing conditional on subject's last sequence being seq.
func expect(m *nats.Msg, subject string, seq uint64) {
	m.Header.Set(hdrExpectSubjSeq, strconv.FormatUint(seq, 10))
	if subject != m.Subject {
		m.Header.Set(hdrExpectSubjSeqOn, subject)
	}
}

// publish stores msgs in the stream, all or none (one atomic batch when
// there are more than one), and returns the last one's stream sequence
// once the stream acknowledged it (stored on a quorum of replicas). An
// error but ctx's end or no responders leaves the outcome unknown.
func publish(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(msgs) > maxBatch {
		return 0, fmt.Errorf("ha: %d messages in one atomic batch; the server takes %d", len(msgs), maxBatch)
	}
	for {
		seq, err := publishOnce(ctx, nc, msgs)
		if !errors.Is(err, nats.ErrNoResponders) {
			return seq, err
		}
		// Nothing was stored: the stream has no leader (one is being
		// elected after a node's loss). Again, until ctx ends.
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func publishOnce(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (uint64, error) {
	last := msgs[len(msgs)-1]
	if len(msgs) > 1 {
		id := rand.Text() // ≤ 64 characters, as the server requires
		for i, m := range msgs {
			m.Header.Set(hdrBatchID, id)
			m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
			if m == last {
				m.Header.Set(hdrBatchCommit, "1")
				break
			}
			// Not answered (no reply subject): the commit's answer says
			// whether the whole batch was stored. One connection keeps
			// the order up to the stream's leader.
			if err := nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("ha: publish: %w", err)
			}
		}
	}
	resp, err := nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("ha: publish %s: %w", last.Subject, err)
	}
	var ack pubAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("ha: publish %s: bad answer %q: %w", last.Subject, resp.Data, err)
	}
	if ack.Error != nil {
		return 0, fmt.Errorf("ha: publish %s: %w", last.Subject, ack.Error)
	}
	if ack.Seq == 0 {
		return 0, fmt.Errorf("ha: publish %s: answer without a sequence: %q", last.Subject, resp.Data)
	}
	return ack.Seq, nil
}
