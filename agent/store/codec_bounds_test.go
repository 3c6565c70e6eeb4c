package store

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// The store's decoders refuse a seq the scheduler would refuse (above
// 2⁵³−1, or 2⁶⁴−1 that would leave no room for the next) and a time that
// could not be sent on: such a value is damage, counted and removed.
func TestCodecBounds(t *testing.T) {
	const maxSeq = uint64(protocol.MaxSeq)
	farFuture := time.Unix(0, math.MaxInt64) // 2262
	beforeEpoch := time.Unix(-1, 0)
	cases := []struct {
		name string
		err  func() error
		ok   bool
	}{
		{"record seq 2^64-1", func() error {
			_, err := decodeRecord(math.MaxUint64, encodeRecord(Record{Seq: math.MaxUint64, Kind: KindMetrics, Topic: "a", QoS: 1, Created: t0}))
			return err
		}, false},
		{"record seq 2^53-1", func() error {
			_, err := decodeRecord(maxSeq, encodeRecord(Record{Seq: maxSeq, Kind: KindMetrics, Topic: "a", QoS: 1, Created: t0}))
			return err
		}, true},
		{"record created in 2262", func() error {
			_, err := decodeRecord(1, encodeRecord(Record{Seq: 1, Kind: KindMetrics, Topic: "a", QoS: 1, Created: farFuture}))
			return err
		}, false},
		{"record created before 1970", func() error {
			_, err := decodeRecord(1, encodeRecord(Record{Seq: 1, Kind: KindMetrics, Topic: "a", QoS: 1, Created: beforeEpoch}))
			return err
		}, false},
		{"record created in 1970 by a board without an RTC", func() error {
			_, err := decodeRecord(1, encodeRecord(Record{Seq: 1, Kind: KindMetrics, Topic: "a", QoS: 1, Created: time.Unix(42, 0)}))
			return err
		}, true},
		{"task state seq 2^64-1", func() error {
			_, err := decodeState("t", encodeState(TaskState{Task: "t", Attempt: 1, State: "running", Since: t0, Transitions: 1, Seq: math.MaxUint64}))
			return err
		}, false},
		{"task state since 2262", func() error {
			_, err := decodeState("t", encodeState(TaskState{Task: "t", Attempt: 1, State: "running", Since: farFuture, Transitions: 1, Seq: 1}))
			return err
		}, false},
		{"transition seq 2^53", func() error {
			_, _, err := decodeTransition("t", encodeTransition(Transition{Task: "t", Attempt: 1, To: "running", At: t0}, maxSeq+1))
			return err
		}, false},
		{"checkpoint seq 2^64-1", func() error {
			_, _, err := decodeCheckpoint("t", encodeCheckpoint(1, math.MaxUint64, []byte("x")))
			return err
		}, false},
		{"counters 2^64-1", func() error {
			_, err := decodeCounters(counters{DroppedMetrics: math.MaxUint64}.encode())
			return err
		}, false},
		{"session opened before 1970", func() error {
			_, err := decodeSession(session{Opens: 1, OpenedAt: beforeEpoch}.encode())
			return err
		}, false},
	}
	for _, c := range cases {
		err := c.err()
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, errCorruptValue) {
			t.Errorf("%s: got %v, want a damaged value", c.name, err)
		}
	}
}
