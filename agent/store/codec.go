package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Every value the store writes is a small binary record:
//
//	format byte | fields … | CRC-32C (big endian) of everything before
//
// Strings and byte strings are a uvarint length and the bytes; integers are
// big-endian fixed width. Decoders check the format, every length against
// what is left, every field's range and the checksum, and never panic: a
// value that cannot be read back exactly is an error. Badger checks its own
// files, but returns an empty value without an error when a value-log read
// fails (iterator.go yieldItemValue), which the checksum turns into one.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptValue wraps every decoding error.
var errCorruptValue = errors.New("damaged value")

type encoder struct{ b []byte }

func newEncoder(format byte, sizeHint int) *encoder {
	e := &encoder{b: make([]byte, 0, sizeHint+16)}
	e.b = append(e.b, format)
	return e
}

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)     { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) time(t time.Time) { e.u64(uint64(unixNano(t))) }
func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}

// finish appends the checksum and returns the value.
func (e *encoder) finish() []byte {
	return binary.BigEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
}

// unixNano keeps the zero time zero (UnixNano of it overflows).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decoder reads what encoder wrote; the first error sticks.
type decoder struct {
	what string
	b    []byte
	err  error
}

// newDecoder checks the checksum and the format of value and returns a
// decoder positioned after the format byte.
func newDecoder(what string, value []byte, format byte) *decoder {
	d := &decoder{what: what}
	if len(value) < 1+crc32.Size {
		d.fail("%d bytes long", len(value))
		return d
	}
	body, sum := value[:len(value)-crc32.Size], value[len(value)-crc32.Size:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		d.fail("checksum mismatch")
		return d
	}
	if body[0] != format {
		d.fail("format %d, want %d", body[0], format)
		return d
	}
	d.b = body[1:]
	return d
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", errCorruptValue, d.what, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("field of %d bytes, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// time reads a time, zero or within the protocol's window (1970 to 2199):
// the agent stamps records with its own clock, which reads 1970 at the
// earliest, and a time outside the window could not be sent on.
func (d *decoder) time() time.Time {
	t := fromUnixNano(int64(d.u64()))
	if d.err == nil && !t.IsZero() && (t.Before(protocol.MinTime) || !t.Before(protocol.MaxTime)) {
		d.fail("time %d ns outside %d..%d", t.UnixNano(), protocol.MinTime.Year(), protocol.MaxTime.Year()-1)
	}
	return t
}

// seq reads a sequence number, 1 to protocol.MaxSeq: the scheduler refuses
// a message with a larger one.
func (d *decoder) seq() uint64 {
	n := d.u64()
	if d.err == nil && (n == 0 || n > protocol.MaxSeq) {
		d.fail("seq %d outside 1..%d", n, uint64(protocol.MaxSeq))
	}
	return n
}

// count reads a count of messages, at most protocol.MaxSeq.
func (d *decoder) count() uint64 {
	n := d.u64()
	if d.err == nil && n > protocol.MaxSeq {
		d.fail("count %d above %d", n, uint64(protocol.MaxSeq))
	}
	return n
}

// bytes reads a length-prefixed byte string of at most max bytes; the
// result aliases the value.
func (d *decoder) bytes(max int) []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad length")
		return nil
	}
	if n > uint64(max) {
		d.fail("length %d above %d", n, max)
		return nil
	}
	d.b = d.b[k:]
	return d.take(int(n))
}

// str reads a length-prefixed UTF-8 string of at most max bytes.
func (d *decoder) str(max int) string {
	p := d.bytes(max)
	if d.err == nil && !utf8.Valid(p) {
		d.fail("string is not UTF-8")
	}
	return string(p)
}

// done reports the first error, or one for bytes left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes left over", len(d.b))
	}
	return d.err
}
