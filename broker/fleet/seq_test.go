package fleet

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type msg struct{ seq, from uint64 }

func TestStreamAccounting(t *testing.T) {
	type counts struct {
		Accepted         []uint64
		High             uint64
		Gaps, Dups, Miss uint64
	}
	tests := []struct {
		name string
		msgs []msg
		want counts
	}{
		{"in order", []msg{{1, 1}, {2, 2}, {3, 3}},
			counts{[]uint64{1, 2, 3}, 3, 0, 0, 0}},
		{"duplicate after a lost PUBACK", []msg{{1, 1}, {2, 1}, {2, 1}, {3, 3}},
			counts{[]uint64{1, 2, 3}, 3, 0, 1, 0}},
		// After an outage, live reports 7 and 8 overtake the backlog 3..6,
		// which the agent still holds (from 3).
		{"live overtakes the backlog", []msg{{1, 1}, {2, 2}, {7, 3}, {8, 3}, {3, 3}, {4, 3}, {5, 3}, {6, 3}, {9, 9}},
			counts{[]uint64{1, 2, 7, 8, 3, 4, 5, 6, 9}, 9, 0, 0, 0}},
		{"backlog on its way", []msg{{1, 1}, {7, 2}, {8, 2}, {2, 2}},
			counts{[]uint64{1, 7, 8, 2}, 8, 0, 0, 4}},
		// The outbox dropped 3 and 4 (bounds): from says so.
		{"dropped by the outbox bounds", []msg{{1, 1}, {2, 2}, {7, 5}, {5, 5}, {6, 6}},
			counts{[]uint64{1, 2, 7, 5, 6}, 7, 2, 0, 0}},
		{"a filled hole does not count twice", []msg{{1, 1}, {5, 2}, {3, 2}, {3, 2}, {6, 6}},
			counts{[]uint64{1, 5, 3, 6}, 6, 2, 1, 0}},
		{"sender without from: holes are gaps at once", []msg{{1, 0}, {4, 0}, {2, 0}, {5, 0}},
			counts{[]uint64{1, 4, 5}, 5, 2, 1, 0}},
		// The scheduler restarted: the first message it hears says 10..11 are
		// still in the agent's outbox.
		{"first message names a backlog", []msg{{12, 10}, {10, 10}, {11, 10}},
			counts{[]uint64{12, 10, 11}, 12, 0, 0, 0}},
		{"hole split in the middle", []msg{{1, 1}, {10, 2}, {5, 2}, {2, 2}, {9, 2}},
			counts{[]uint64{1, 10, 5, 2, 9}, 10, 0, 0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s stream
			got := counts{Accepted: []uint64{}}
			for _, m := range tt.msgs {
				if s.accept(m.seq, m.from, clockOrigin) {
					got.Accepted = append(got.Accepted, m.seq)
				}
			}
			got.High, got.Gaps, got.Dups, got.Miss = s.high, s.gaps, s.dups, s.missing()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestStreamBoundsItsHoles(t *testing.T) {
	var s stream
	for seq := uint64(1); seq < 4*maxHoles; seq += 2 { // every other seq missing, all awaited
		s.accept(seq, 1, clockOrigin)
	}
	if len(s.holes) > maxHoles {
		t.Fatalf("%d holes kept, bound %d", len(s.holes), maxHoles)
	}
	if got, want := s.gaps+s.missing(), uint64(2*maxHoles-1); got != want {
		t.Fatalf("gaps %d + missing %d = %d, want every skipped seq counted once (%d)", s.gaps, s.missing(), got, want)
	}
}

// FuzzStream: whatever arrives, a seq is applied at most once, and every seq
// up to the highest is exactly one of applied, a gap, or missing.
func FuzzStream(f *testing.F) {
	f.Add([]byte{1, 1, 2, 2, 7, 3, 3, 3, 4, 3})
	f.Add([]byte{1, 0, 4, 0, 2, 0})
	f.Add([]byte{12, 10, 10, 10, 11, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		// An odd length runs the stream with a redelivery window, one
		// message a second: late holes are awaited, then expire.
		var s stream
		if len(data)%2 == 1 {
			s.window = 3 * time.Second
		}
		now := clockOrigin
		applied := map[uint64]bool{}
		var first uint64
		for i := 0; i+1 < len(data); i += 2 {
			now += instant(time.Second)
			s.expire(now, 0)
			seq, from := uint64(data[i])+1, uint64(data[i+1])
			if from > seq {
				from = seq // the decoder refuses from past seq
			}
			if s.high == 0 {
				first = seq
				if from > 0 && from < seq {
					first = from
				}
			}
			if s.accept(seq, from, now) {
				if applied[seq] {
					t.Fatalf("seq %d applied twice", seq)
				}
				applied[seq] = true
			}
		}
		if s.high == 0 {
			return
		}
		var inRange uint64
		for seq := range applied {
			if seq >= first {
				inRange++
			}
		}
		if got, want := inRange+s.gaps+s.missing(), s.high-first+1; got < want {
			t.Fatalf("applied %d + gaps %d + missing %d = %d, below the %d seqs from %d to %d",
				inRange, s.gaps, s.missing(), got, want, first, s.high)
		}
	})
}

func TestBirthSeedsTheStream(t *testing.T) {
	tests := []struct {
		name      string
		seq, from uint64 // the birth's
		msgs      []msg
		wantGaps  uint64
		wantMiss  uint64
	}{
		{"lost first report", 0, 1, []msg{{2, 2}, {3, 3}}, 1, 0},
		{"first report on its way", 0, 1, []msg{{2, 1}}, 0, 1},
		{"backlog named by the birth arrives", 5, 3, []msg{{6, 3}, {3, 3}, {4, 3}, {5, 3}}, 0, 0},
		{"backlog named by the birth lost", 5, 3, []msg{{6, 6}}, 3, 0},
		{"birth without from, stream not begun", 0, 0, []msg{{2, 2}}, 1, 0},
		{"birth without from, stream begun: not known", 7, 0, []msg{{9, 9}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s stream
			s.seed(tt.seq, tt.from)
			for _, m := range tt.msgs {
				s.accept(m.seq, m.from, clockOrigin)
			}
			if s.gaps != tt.wantGaps || s.missing() != tt.wantMiss {
				t.Fatalf("gaps %d missing %d, want %d and %d", s.gaps, s.missing(), tt.wantGaps, tt.wantMiss)
			}
		})
	}
}

func TestHugeSeqNeverWedgesAndCountsNeverWrap(t *testing.T) {
	const top = ^uint64(0)
	var s stream
	for _, seq := range []uint64{1, 2, top} {
		if !s.accept(seq, seq, clockOrigin) {
			t.Fatalf("seq %d not applied", seq)
		}
	}
	// The sender goes on from where it really is: the stream follows.
	for seq := uint64(3); seq < 6; seq++ {
		if !s.accept(seq, seq, clockOrigin) {
			t.Fatalf("seq %d after a jump to 2^64-1 not applied: the stream is wedged", seq)
		}
	}
	if s.high != 5 || s.gaps > maxJump || s.resets != 2 {
		t.Fatalf("high %d gaps %d resets %d, want 5, few gaps, 2 resets", s.high, s.gaps, s.resets)
	}
	// A first message far above its from awaits no 2^64 holes.
	var f stream
	f.accept(top, 1, clockOrigin)
	if f.missing() > maxJump {
		t.Fatalf("%d awaited after one message", f.missing())
	}
	if got := satAdd(top-1, 5); got != top {
		t.Fatalf("satAdd wrapped: %d", got)
	}
}

func TestLateMessageWithinTheRedeliveryWindow(t *testing.T) {
	at := func(s int) instant { return clockOrigin + instant(time.Duration(s)*time.Second) }
	tests := []struct {
		name     string
		lateBy   int // seconds after 3 passes 2 that 2 arrives
		applied  bool
		gaps     uint64
		dups     uint64
		expireAt int // Sweep's expire before 2 arrives (0: none)
	}{
		{"redelivered within the window", 29, true, 0, 0, 0},
		{"redelivered after the window", 31, false, 1, 1, 0},
		{"window passed, Sweep counted it first", 31, false, 1, 1, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stream{window: 30 * time.Second}
			s.accept(1, 1, at(0))
			// The broker acknowledged 2 to the agent, which then sent 3
			// with from 3; 2 is redelivered later.
			s.accept(3, 3, at(0))
			if s.gaps != 0 || s.missing() != 1 || !s.lateHoles() {
				t.Fatalf("2 passed by from: gaps %d missing %d, want 0 and 1 (late)", s.gaps, s.missing())
			}
			if tt.expireAt > 0 && !s.expire(at(tt.expireAt), 0) {
				t.Fatalf("expire at %d s found nothing", tt.expireAt)
			}
			s.expire(at(tt.lateBy), 0)
			if got := s.accept(2, 3, at(tt.lateBy)); got != tt.applied {
				t.Fatalf("late 2 applied %v, want %v", got, tt.applied)
			}
			if s.gaps != tt.gaps || s.dups != tt.dups || s.missing() != 0 {
				t.Fatalf("gaps %d dups %d missing %d, want %d, %d, 0", s.gaps, s.dups, s.missing(), tt.gaps, tt.dups)
			}
		})
	}
}

func TestLateHoleSplitsAtFrom(t *testing.T) {
	s := stream{window: time.Minute}
	s.accept(1, 1, clockOrigin)
	s.accept(10, 2, clockOrigin) // 2..9 on their way
	s.accept(11, 6, clockOrigin) // 2..5 passed: late; 6..9 still held
	want := []span{{lo: 2, hi: 5, late: clockOrigin}, {lo: 6, hi: 9}}
	if !slices.Equal(s.holes, want) {
		t.Fatalf("holes %+v, want %+v", s.holes, want)
	}
	later := clockOrigin + instant(time.Minute)
	s.expire(later, 0)
	if s.gaps != 4 || s.missing() != 4 {
		t.Fatalf("after the window: gaps %d missing %d, want 4 and 4 (6..9 still awaited)", s.gaps, s.missing())
	}
}
