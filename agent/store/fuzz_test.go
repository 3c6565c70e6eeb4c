package store

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/roundtrip"
)

// withCRC seals body as a stored value, so that the fuzzer reaches the
// field checks behind the checksum.
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
}

func body(value []byte) []byte { return value[:len(value)-crc32.Size] }

// FuzzDecodeRecord: an outbox record read from disk decodes to a valid
// record that encodes back to the same record, or is an error; never a
// panic.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []Record{
		{Seq: 1, Kind: KindMetrics, Topic: "tether/v1/r/nodes/n/metrics", QoS: 1, Payload: []byte(`{"seq":1}`), Created: t0},
		{Seq: 1 << 40, Kind: KindStatus, Topic: "a", QoS: 1, Retained: true},
		{Seq: 7, Kind: KindTaskEvent, Topic: "tether/v1/r/tasks/t/status", QoS: 2, Payload: make([]byte, 300)},
	} {
		f.Add(r.Seq, body(encodeRecord(r)), true)
	}
	f.Add(uint64(1), []byte{recordFormat, 1}, false)
	// Hostile values: seq 2⁶⁴−1 and 2⁵³, times past 2262 and before 1970.
	for _, r := range []Record{
		{Seq: math.MaxUint64, Kind: KindMetrics, Topic: "a", QoS: 1, Created: t0},
		{Seq: protocol.MaxSeq + 1, Kind: KindMetrics, Topic: "a", QoS: 1, Created: t0},
		{Seq: 2, Kind: KindTaskEvent, Topic: "a", QoS: 1, Created: time.Unix(0, math.MaxInt64)},
		{Seq: 3, Kind: KindStatus, Topic: "a", QoS: 1, Created: time.Unix(0, math.MinInt64)},
	} {
		f.Add(r.Seq, body(encodeRecord(r)), true)
	}
	f.Fuzz(func(t *testing.T, seq uint64, b []byte, seal bool) {
		v := b
		if seal {
			v = withCRC(b)
		}
		r, err := decodeRecord(seq, v)
		if err != nil {
			return
		}
		if r.Seq != seq || !r.Kind.valid() || checkTopic(r.Topic) != nil || len(r.Payload) > MaxPayloadLen {
			t.Fatalf("decoded an invalid record: %+v", r)
		}
		roundtrip.Check(t, r, func(r Record) ([]byte, error) { return encodeRecord(r), nil },
			func(b []byte) (Record, error) { return decodeRecord(seq, b) })
	})
}

// FuzzDecodeJournal covers the task state, transition, checkpoint, counter
// and session decoders: what decodes re-encodes to the same thing.
func FuzzDecodeJournal(f *testing.F) {
	st := TaskState{Task: "t-1", Attempt: 2, State: "running", Since: t0, Detail: "x", Transitions: 3, Seq: 9}
	tr := Transition{Task: "t-1", Attempt: 2, From: "a", To: "b", At: t0, Detail: "d"}
	f.Add(byte(0), body(encodeState(st)))
	f.Add(byte(1), body(encodeTransition(tr, 9)))
	f.Add(byte(2), body(encodeCheckpoint(2, 9, []byte("blob"))))
	f.Add(byte(3), body(counters{1, 2, 3}.encode()))
	f.Add(byte(4), body(session{Opens: 3, BootID: "b", OpenedAt: t0, Clean: true}.encode()))
	st.Seq, tr.At = math.MaxUint64, time.Unix(0, math.MaxInt64)
	f.Add(byte(0), body(encodeState(st)))
	f.Add(byte(1), body(encodeTransition(tr, protocol.MaxSeq+1)))
	f.Add(byte(2), body(encodeCheckpoint(2, math.MaxUint64, []byte("blob"))))
	f.Add(byte(3), body(counters{math.MaxUint64, 2, 3}.encode()))
	f.Add(byte(5), body(encodeEpoch(7)))
	f.Add(byte(5), body(encodeEpoch(math.MaxUint64)))
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		v := withCRC(b)
		switch which % 6 {
		case 0:
			s, err := decodeState("t-1", v)
			if err == nil {
				roundTrip(t, s, func() (any, error) { return decodeState("t-1", encodeState(s)) })
			}
		case 1:
			tr, seq, err := decodeTransition("t-1", v)
			if err == nil {
				roundTrip(t, tr, func() (any, error) {
					tr2, _, err := decodeTransition("t-1", encodeTransition(tr, seq))
					return tr2, err
				})
			}
		case 2:
			blob, seq, err := decodeCheckpoint("t-1", v)
			if err == nil {
				if len(blob) > MaxCheckpointLen || seq == 0 {
					t.Fatalf("invalid checkpoint decoded: %d bytes, seq %d", len(blob), seq)
				}
				roundTrip(t, blob, func() (any, error) {
					b2, _, err := decodeCheckpoint("t-1", encodeCheckpoint(1, seq, blob))
					return b2, err
				})
			}
		case 3:
			c, err := decodeCounters(v)
			if err == nil {
				roundTrip(t, c, func() (any, error) { return decodeCounters(c.encode()) })
			}
		case 4:
			s, err := decodeSession(v)
			if err == nil {
				roundTrip(t, s, func() (any, error) { return decodeSession(s.encode()) })
			}
		case 5:
			e, err := decodeEpoch(v)
			if err == nil {
				if e > protocol.MaxSeq {
					t.Fatalf("epoch %d decoded, above %d", e, uint64(protocol.MaxSeq))
				}
				roundTrip(t, e, func() (any, error) { return decodeEpoch(encodeEpoch(e)) })
			}
		}
	})
}

func roundTrip(t *testing.T, first any, again func() (any, error)) {
	t.Helper()
	roundtrip.Check(t, first, func(any) ([]byte, error) { return nil, nil },
		func([]byte) (any, error) { return again() }, cmp.AllowUnexported(counters{}, session{}))
}

// FuzzOutboxKey: only an outbox key of 8 bytes of seq is one.
func FuzzOutboxKey(f *testing.F) {
	f.Add(outboxKey(42))
	f.Add([]byte("o/"))
	f.Fuzz(func(t *testing.T, k []byte) {
		seq, err := seqOfOutboxKey(k)
		if err == nil && string(outboxKey(seq)) != string(k) {
			t.Fatalf("key %x read as seq %d", k, seq)
		}
	})
}

// FuzzDecodeRef: a blob reference read from disk names a well-formed blob
// within its bound and encodes back to the same reference, or is an error.
func FuzzDecodeRef(f *testing.F) {
	f.Add(body(encodeRef(blobRef{Name: "o0000000000000001", Len: 20 << 10, Sum: 7})), true)
	f.Add(body(encodeRef(blobRef{Name: "c00000000000000ff", Len: maxBlobLen, Sum: 0})), true)
	f.Add(body(encodeRef(blobRef{Name: "../../etc/passwd1", Len: 1, Sum: 0})), true)
	f.Add(body(encodeRef(blobRef{Name: "o0000000000000001", Len: math.MaxUint32, Sum: 0})), true)
	f.Add([]byte{refFormat, 1}, false)
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		v := b
		if seal {
			v = withCRC(b)
		}
		r, err := decodeRef(v)
		if err != nil {
			return
		}
		if !validBlobName(r.Name) || r.Len > maxBlobLen || len(v) > maxRefLen {
			t.Fatalf("decoded an invalid reference: %+v (%d bytes)", r, len(v))
		}
		roundtrip.Check(t, r, func(r blobRef) ([]byte, error) { return encodeRef(r), nil }, decodeRef)
	})
}
