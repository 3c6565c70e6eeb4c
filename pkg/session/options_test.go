package session

import (
	"strings"
	"testing"
)

// TestParseBroker: a bare HOST:PORT is a tcp:// broker, and what is not a
// broker address gets an error that shows how to write one, not Go's URL
// parser's message.
func TestParseBroker(t *testing.T) {
	for raw, want := range map[string]struct {
		host string
		tls  bool
	}{
		"127.0.0.1:1883":          {"127.0.0.1:1883", false},
		"broker.local:1884":       {"broker.local:1884", false},
		"[::1]:1883":              {"[::1]:1883", false},
		"tcp://127.0.0.1":         {"127.0.0.1:1883", false},
		"tls://broker.local":      {"broker.local:8883", true},
		"mqtts://broker.local:99": {"broker.local:99", true},
	} {
		u, useTLS, err := parseBroker(raw)
		if err != nil || u.Host != want.host || u.Scheme == "" || useTLS != want.tls {
			t.Errorf("%s: %v %v %v, want %s tls=%v", raw, u, useTLS, err, want.host, want.tls)
		}
	}
	for _, raw := range []string{"127.0.0.1:", "tcp://bad host:1", "http://x:1", "tcp://"} {
		_, _, err := parseBroker(raw)
		if err == nil {
			t.Errorf("%q: accepted", raw)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "parse ") || !strings.Contains(msg, raw) {
			t.Errorf("%q: %v", raw, err)
		}
	}
}
