package protocol

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Bounds on the numbers and times inside messages. A decoder refuses a
// message with a value outside them (ErrInvalid, the field named), so
// nothing a node sends can make the scheduler's own messages — the fleet
// table above all — fail to encode, overflow a duration or wedge a
// sequence. docs/protocol.md, "Limits and errors", lists them.
var (
	// MinTime and MaxTime bound every time on the wire (MinTime ≤ t <
	// MaxTime, whatever the offset). The window starts at the Unix epoch
	// because a board without a real-time clock reads 1970 until NTP
	// syncs: such a time is accepted, and the fleet table shows it as a
	// large clock_skew_ms (docs/protocol.md, "Times on boards without a
	// real-time clock"). It ends in 2200 so that any two times in it are
	// less than 292 years apart: their difference fits a time.Duration,
	// and every time in it encodes in RFC 3339 in any offset.
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	// MaxSeq bounds sequence numbers (seq, from, and the fleet table's
	// counts of messages): 2⁵³−1, the largest integer every JSON reader
	// holds exactly. At 1,000 messages a second a store takes 285,000
	// years to reach it, so a sender claiming more is broken or hostile —
	// and one claiming 2⁶⁴−1 would leave no room above it for the next
	// message.
	MaxSeq = 1<<53 - 1
	// MaxBytes bounds byte counts (memory, disk, outbox bytes): 2⁵³−1,
	// 8 PiB, exact in every JSON reader.
	MaxBytes = 1<<53 - 1
	// MaxUptime bounds up_ms, uptime_s and a row's clock skew: no machine
	// has been up for a century.
	MaxUptime = 100 * 365 * 24 * time.Hour
	// MaxHeartbeat bounds heartbeat_s: an agent silent for longer than a
	// week is not one the scheduler can judge alive.
	MaxHeartbeat = 7 * 24 * time.Hour
	// MaxTaskProgress bounds facts.task_progress_s: a running task is
	// reported at least once a minute.
	MaxTaskProgress = time.Minute
	// MaxLoad bounds the load averages: a million runnable tasks.
	MaxLoad = 1e6
	// MaxRate bounds network rates, bytes per second: 2⁴⁰ (8.8 Tbit/s).
	MaxRate = 1 << 40
	// MaxNodes bounds the fleet's counts and table rows; the table's size
	// limit (MaxFleetMessage) allows ~60k rows.
	MaxNodes = 1 << 20
	// MinTempC and MaxTempC bound a sensor's reading, °C.
	MinTempC, MaxTempC = -100, 200
	// MaxLabels bounds a node's labels; MaxString a label's value and
	// every other free-form string (hostname, reason, …), in bytes.
	MaxLabels = maxLabels
	MaxString = maxString
)

// CheckTime returns an error naming field unless MinTime ≤ t < MaxTime.
// Other packages' decoders (pkg/task) use it for their own times.
func CheckTime(field string, t time.Time) error {
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return invalid("%s %s is outside %d..%d", field, clip(t), MinTime.Year(), MaxTime.Year()-1)
	}
	return nil
}

// checkOptTime is CheckTime for a time that may be absent (zero).
func checkOptTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	return CheckTime(field, t)
}

// clip prints a time for an error message; one that cannot be printed in
// RFC 3339 is named by its year alone.
func clip(t time.Time) string {
	if y := t.Year(); y < 0 || y > 9999 {
		return "in year " + strconv.Itoa(y)
	}
	return t.Format(time.RFC3339)
}

// CheckSeq returns an error naming field unless n ≤ MaxSeq.
func CheckSeq(field string, n uint64) error {
	if n > MaxSeq {
		return invalid("%s %d is above the largest sequence number, %d", field, n, uint64(MaxSeq))
	}
	return nil
}

func checkBytes(field string, n uint64) error {
	if n > MaxBytes {
		return invalid("%s %d is above %d bytes", field, n, uint64(MaxBytes))
	}
	return nil
}

// checkRange returns an error naming field unless lo ≤ f ≤ hi (and f is
// finite).
func checkRange(field string, f, lo, hi float64) error {
	if err := checkFinite(field, f); err != nil {
		return err
	}
	if f < lo || f > hi {
		return invalid("%s = %g is outside %g..%g", field, f, lo, hi)
	}
	return nil
}

func checkTemp(field string, c float64) error {
	if err := checkFinite(field, c); err != nil {
		return err
	}
	if c < MinTempC || c > MaxTempC {
		return invalid("%s = %g °C is not a plausible temperature", field, c)
	}
	return nil
}

// maxErrorText bounds the text of a decoding error taken from a parser:
// encoding/json quotes what it could not parse (a time, an unknown field's
// name) whole, and errors reach logs, which never carry payloads.
const maxErrorText = 200

// Syntax wraps a parser's error as ErrSyntax, its text clipped to
// maxErrorText bytes.
func Syntax(err error) error {
	return fmt.Errorf("%w: %s", ErrSyntax, clipText(err.Error(), maxErrorText))
}

// clipText cuts s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
