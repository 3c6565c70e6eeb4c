package session

import (
	"strings"
	"testing"
)

var matchCases = []struct {
	filter, topic string
	want          bool
}{
	{"a/b/c", "a/b/c", true},
	{"a/b/c", "a/b", false},
	{"a/b", "a/b/c", false},
	{"a/+/c", "a/x/c", true},
	{"a/+/c", "a/x/y/c", false},
	{"a/#", "a", true},
	{"a/#", "a/b/c", true},
	{"#", "a/b", true},
	{"#", "$SYS/x", false},
	{"+/x", "$SYS/x", false},
	{"$SYS/#", "$SYS/x", true},
	{"+", "a", true},
	{"+", "a/b", false},
	{"a/+", "a/", true},
	{"+/+", "/x", true},
	{"tether/v1/+/nodes/+/status", "tether/v1/r1/nodes/n1/status", true},
	{"tether/v1/r1/nodes/n1/cmd/#", "tether/v1/r1/nodes/n2/cmd/x", false},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		if got := Match(c.filter, c.topic); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	for _, f := range []string{"a/b", "#", "+", "a/+/b", "a/#", "+/+/#"} {
		if err := ValidateFilter(f); err != nil {
			t.Errorf("ValidateFilter(%q) = %v, want nil", f, err)
		}
	}
	for _, f := range []string{"", "a/#/b", "a#", "a/b+", "#/a"} {
		if err := ValidateFilter(f); err == nil {
			t.Errorf("ValidateFilter(%q) = nil, want an error", f)
		}
	}
}

// refMatch is a level-by-level reference for the fuzzer.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(t) || (l != "+" && l != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.topic)
	}
	// Junk topics a node has published to.
	for _, s := range []string{"tether/v1/r/nodes/pi-a/junk/7", "$SYS/broker/load", "tether/v1/r/tasks/submit", "tether/v1/r/nodes//status"} {
		f.Add("tether/v1/+/nodes/+/status", s)
		f.Add("#", s)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if ValidateFilter(filter) != nil || strings.ContainsAny(topic, "+#") {
			return
		}
		if got, want := Match(filter, topic), refMatch(filter, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
		if !strings.HasPrefix(topic, "$") && !Match(topic, topic) {
			t.Fatalf("a topic must match itself as a filter: %q", topic)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !Match("tether/v1/+/nodes/+/metrics", "tether/v1/eu-1/nodes/raspberrypi-a1b2c3d4/metrics") {
			b.Fatal("no match")
		}
	}
}
