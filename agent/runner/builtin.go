package runner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// refItersPerMS is how many SHA-256 iterations over a 32-byte state one
// reference core does in a millisecond: a Raspberry Pi 4's Cortex-A72 at
// 1.5 GHz, which has no SHA instructions, hashes one 64-byte block in about
// 1.4 µs with Go's generic code. A cpu unit of UnitMS milliseconds is
// UnitMS × refItersPerMS iterations: a fixed count, not a timer, so the
// result does not depend on the node, and a fast node simply finishes
// sooner (BenchmarkCPUUnit measures the cost here).
const refItersPerMS = 700

// builtinState is a builtin's progress: units done and the running
// digest. Its encoding is the builtin's checkpoint, the same on every
// node, so the scheduler can resume the task anywhere:
//
//	units done uint64 BE (8 bytes) | digest (32 bytes)
type builtinState struct {
	done   int64
	digest [32]byte
}

const builtinStateLen = 8 + sha256.Size

// builtinStart is the state before the first unit: a digest of the
// builtin's name, so cpu and sleep never share results.
func builtinStart(name string) builtinState {
	return builtinState{digest: sha256.Sum256([]byte("tether/v1 builtin " + name))}
}

func (s builtinState) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, builtinStateLen), uint64(s.done))
	return append(b, s.digest[:]...)
}

func decodeBuiltinState(b []byte, units int64) (builtinState, error) {
	if len(b) != builtinStateLen {
		return builtinState{}, fmt.Errorf("builtin checkpoint of %d bytes, want %d", len(b), builtinStateLen)
	}
	var s builtinState
	done := binary.BigEndian.Uint64(b)
	if done > uint64(units) {
		return builtinState{}, fmt.Errorf("builtin checkpoint at unit %d of %d", done, units)
	}
	s.done = int64(done)
	copy(s.digest[:], b[8:])
	return s, nil
}

// output is a finished builtin's Result.Output.
func (s builtinState) output() string { return hex.EncodeToString(s.digest[:]) }

// cpuUnit does one cpu unit of iters iterations; it gives up (false) when
// done is closed, leaving d part-way.
func cpuUnit(d *[32]byte, iters int64, done <-chan struct{}) bool {
	const check = 4096 // iterations between looks at done: a few ms on a Pi
	for i := int64(0); i < iters; i++ {
		if i%check == check-1 {
			select {
			case <-done:
				return false
			default:
			}
		}
		*d = sha256.Sum256(d[:])
	}
	return true
}

// sleepUnit folds unit index i into d.
func sleepUnit(d *[32]byte, i int64) {
	var b [sha256.Size + 8]byte
	copy(b[:], d[:])
	binary.BigEndian.PutUint64(b[sha256.Size:], uint64(i))
	*d = sha256.Sum256(b[:])
}

// runBuiltin runs b (defaults filled in) from s until all units are done
// or ctx ends (its error). Every `every` units (0: never) it calls save
// with the state, except after the last unit: the result carries that.
// After every unit it stores the units done in done, when not nil.
func runBuiltin(ctx context.Context, b task.Builtin, s builtinState, every int64, save func(builtinState), done *atomic.Int64) (builtinState, error) {
	iters := b.UnitMS * refItersPerMS
	unit := time.Duration(b.UnitMS) * time.Millisecond
	stop := ctx.Done()
	var t *time.Timer
	for s.done < b.Units {
		switch b.Name {
		case task.BuiltinCPU:
			d := s.digest // s stays at the last whole unit if ctx ends
			if !cpuUnit(&d, iters, stop) {
				return s, context.Cause(ctx)
			}
			s.digest = d
		case task.BuiltinSleep:
			if t == nil {
				t = time.NewTimer(unit)
				defer t.Stop()
			} else {
				t.Reset(unit)
			}
			select {
			case <-stop:
				return s, context.Cause(ctx)
			case <-t.C:
			}
			sleepUnit(&s.digest, s.done)
		default:
			return s, fmt.Errorf("unknown builtin %q", b.Name)
		}
		s.done++
		if done != nil {
			done.Store(s.done)
		}
		if every > 0 && s.done%every == 0 && s.done < b.Units {
			save(s)
		}
	}
	return s, nil
}
