package task

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/protocol"
)

const (
	tsFarFuture = `9999-12-31T23:59:59-23:59` // year 10000 in UTC
	tsYearZero  = `0000-01-01T00:00:00+23:59` // year −1 in UTC
)

// boundCases edit one field of a golden message: each payload is the
// golden file with old replaced by new.
var boundCases = []struct {
	golden, old, new string
	field            string // named in the error; "" when still valid
}{
	{"status", `"submitted": "2026-11-27T09:27:00Z"`, `"submitted": "` + tsYearZero + `"`, "submitted"},
	{"status", `"updated": "2026-11-27T09:30:20Z"`, `"updated": "` + tsFarFuture + `"`, "updated"},
	{"status", `"ended": "2026-11-27T09:29:50Z"`, `"ended": "` + tsFarFuture + `"`, "attempts[0].ended"},
	{"status", `"resumed_from": 1200`, `"resumed_from": 9223372036854775807`, "attempts[1].resumed_from"},
	{"status", `"total": 3000`, `"total": 9223372036854775807`, "progress"},
	{"event-succeeded", `"ts": "2026-11-27T09:30:00Z"`, `"ts": "` + tsFarFuture + `"`, "ts"},
	{"event-succeeded", `"ts": "2026-11-27T09:30:00Z"`, `"ts": "` + tsYearZero + `"`, "ts"},
	{"event-succeeded", `"ts": "2026-11-27T09:30:00Z"`, `"ts": "1970-01-01T00:00:42Z"`, ""},
	{"event-succeeded", `"seq": 61`, `"seq": 18446744073709551615`, "seq"},
	{"event-succeeded", `"cpu_ms": 17950`, `"cpu_ms": 9223372036854775807`, "cpu_ms"},
	{"event-succeeded", `"duration_ms": 18210`, `"duration_ms": 9223372036854775807`, "duration_ms"},
	{"event-succeeded", `"fetch_ms": 240`, `"fetch_ms": -1`, "fetch_ms"},
	{"event-succeeded", `"fetch_ms": 240`, `"fetch_ms": 18211`, "fetch_ms"},
	{"event-succeeded", `"fetch_ms": 240`, `"fetch_ms": 18210`, ""},
	{"event-succeeded", `"max_rss_kb": 5120`, `"max_rss_kb": 9223372036854775807`, "max_rss_kb"},
	{"event-succeeded", `"work_done": 1800`, `"work_done": 9223372036854775807`, "work_done"},
	{"assignment", `"issued": "2026-11-27T09:30:00Z"`, `"issued": "` + tsYearZero + `"`, "issued"},
	{"assignment", `"expires": "2026-11-27T09:40:00Z"`, `"expires": "` + tsFarFuture + `"`, "expires"},
	{"assignment-cancel-ha", `"epoch": 7`, `"epoch": 9007199254740991`, ""},
	{"assignment-cancel-ha", `"epoch": 7`, `"epoch": 9007199254740992`, "epoch"},
	{"assignment-cancel-ha", `"epoch": 7`, `"epoch": 18446744073709551615`, "epoch"},
	{"status-ha", `"epoch": 7`, `"epoch": 18446744073709551615`, "epoch"},
	{"reply-quarantine", `"until": "2026-11-27T09:40:00Z"`, `"until": "` + tsFarFuture + `"`, "quarantine[0].until"},
	{"reply-quarantine", `"until": "2026-11-27T09:40:00Z"`, `"until": "` + tsYearZero + `"`, "quarantine[0].until"},
}

func TestTaskMessagesBoundValues(t *testing.T) {
	for _, c := range boundCases {
		t.Run(c.golden+" "+c.new, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", c.golden+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.old) {
				t.Fatalf("%s has no %s", c.golden, c.old)
			}
			_, err = decoderFor(c.golden)([]byte(strings.Replace(string(b), c.old, c.new, 1)))
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, protocol.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("got %v, want ErrInvalid naming %s", err, c.field)
			}
		})
	}
}

// A strict decoder's error names an unknown field by its start only:
// errors reach logs and replies.
func TestUnknownFieldErrorIsShort(t *testing.T) {
	_, err := DecodeControlRequest([]byte(`{"v":1,"` + strings.Repeat("x", 60<<10) + `":1}`))
	if !errors.Is(err, protocol.ErrSyntax) || len(err.Error()) > 400 {
		t.Fatalf("got %d bytes: %.200v", len(err.Error()), err)
	}
}
