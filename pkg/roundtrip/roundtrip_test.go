package roundtrip

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func check[T any](v T, decode func([]byte) (T, error)) (failed string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = r.failed
	}()
	JSON(r, v, decode)
	return ""
}

type msg struct {
	TS    time.Time         `json:"ts"`
	N     int               `json:"n"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	Inner *struct {
		At time.Time `json:"at"`
	} `json:"inner,omitempty"`
}

func decodeMsg(b []byte) (msg, error) {
	var m msg
	err := json.Unmarshal(b, &m)
	return m, err
}

func TestCheck(t *testing.T) {
	farFuture, err := time.Parse(time.RFC3339, "9999-12-31T23:59:59-23:59")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 9, 30, 0, 0, time.FixedZone("", 3600))
	inner := &struct {
		At time.Time `json:"at"`
	}{At: farFuture}
	cases := []struct {
		name   string
		v      msg
		decode func([]byte) (msg, error)
		fails  bool
	}{
		{"plain", msg{TS: now, N: 1}, decodeMsg, false},
		{"empty slice and map equal absent ones", msg{TS: now, Tags: []string{}, Attrs: map[string]string{}}, decodeMsg, false},
		{"a time that does not encode in UTC", msg{TS: farFuture}, decodeMsg, true},
		{"such a time behind a pointer", msg{TS: now, Inner: inner}, decodeMsg, true},
		{"a decoder refusing its own encoding", msg{TS: now}, func([]byte) (msg, error) { return msg{}, errors.New("no") }, true},
		{"a decoder changing the value", msg{TS: now, N: 1}, func(b []byte) (msg, error) { m, err := decodeMsg(b); m.N++; return m, err }, true},
	}
	for _, c := range cases {
		if got := check(c.v, c.decode); (got != "") != c.fails {
			t.Errorf("%s: failure %q, want a failure: %v", c.name, got, c.fails)
		}
	}
}
