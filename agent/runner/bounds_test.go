package runner

import (
	"math"
	"testing"
	"time"
)

// An exec task's progress line and a saved task stay within what the
// scheduler accepts in an event (progress up to 2⁵³−1, times 1970–2199):
// beyond, every event of the task would be refused.
func TestProgressAndSavedBounds(t *testing.T) {
	for line, want := range map[string][2]int64{
		"progress 9223372036854775807 9223372036854775807": {0, 0},
		"progress 9007199254740992 9007199254740992":       {0, 0},
		"progress 9007199254740991 9007199254740991":       {9007199254740991, 9007199254740991},
	} {
		if d, tot := parseProgress(line); d != want[0] || tot != want[1] {
			t.Errorf("%q: %d of %d, want %d of %d", line, d, tot, want[0], want[1])
		}
	}
	spec := sleepSpec(3, 1, 1, true)
	for name, s := range map[string]saved{
		"progress 2^63-1":    {Attempt: 1, Spec: spec, Progress: math.MaxInt64, Total: math.MaxInt64},
		"expires in year -1": {Attempt: 1, Spec: spec, Expires: time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60))},
	} {
		b, err := s.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeSaved(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
