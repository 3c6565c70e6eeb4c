package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopics(t *testing.T) {
	tp, err := NewTopics("eu-1")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{tp.NodeStatus("n1"), tp.NodeMetrics("n1"), tp.NodeCommand("n1", CmdRebirth), tp.NodeCommands("n1"),
		tp.SchedulerStatus(), tp.FleetSummary(), tp.FleetNodes(), tp.All()}
	want := []string{"tether/v1/eu-1/nodes/n1/status", "tether/v1/eu-1/nodes/n1/metrics", "tether/v1/eu-1/nodes/n1/cmd/rebirth",
		"tether/v1/eu-1/nodes/n1/cmd/#", "tether/v1/eu-1/scheduler/status", "tether/v1/eu-1/fleet/summary",
		"tether/v1/eu-1/fleet/nodes", "tether/v1/eu-1/#"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
	if _, err := NewTopics("a/b"); err == nil {
		t.Fatal("region with '/' accepted")
	}
}

var idCases = []struct {
	id string
	ok bool
}{
	{"pi-0001", true}, {"raspberrypi.local", true}, {"A_b-9", true},
	{"", false}, {"-x", false}, {".x", false}, {"a/b", false}, {"a+", false}, {"#", false},
	{"$SYS", false}, {"a b", false}, {"ü", false}, {strings.Repeat("x", 65), false}, {strings.Repeat("x", 64), true},
}

func TestValidateID(t *testing.T) {
	for _, c := range idCases {
		if err := ValidateID("node", c.id); (err == nil) != c.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", c.id, err, c.ok)
		}
	}
}

var topicCases = []struct {
	topic string
	want  NodeTopic
	ok    bool
}{
	{"tether/v1/r/nodes/n/status", NodeTopic{Region: "r", Node: "n", Kind: KindStatus}, true},
	{"tether/v1/r/nodes/n/metrics", NodeTopic{Region: "r", Node: "n", Kind: KindMetrics}, true},
	{"tether/v1/r/nodes/n/cmd/rebirth", NodeTopic{Region: "r", Node: "n", Kind: "cmd", Command: "rebirth"}, true},
	{"tether/v1/r/nodes/n/status/x", NodeTopic{}, false},
	{"tether/v1/r/nodes/n/cmd/", NodeTopic{}, false},
	{"tether/v1/r/nodes/+/status", NodeTopic{}, false},
	{"tether/v2/r/nodes/n/status", NodeTopic{}, false},
	{"tether/v1/r/fleet/summary", NodeTopic{}, false},
	{"tether/v1//nodes/n/status", NodeTopic{}, false},
}

func TestParseNodeTopic(t *testing.T) {
	for _, c := range topicCases {
		got, err := ParseNodeTopic(c.topic)
		if (err == nil) != c.ok {
			t.Errorf("ParseNodeTopic(%q) err = %v, want ok=%v", c.topic, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrNotNodeTopic) {
			t.Errorf("ParseNodeTopic(%q) err = %v, want ErrNotNodeTopic", c.topic, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseNodeTopic(%q):\n%s", c.topic, diff)
		}
	}
}

func TestValidateDiscoveryPrefix(t *testing.T) {
	for p, ok := range map[string]bool{
		"homeassistant": true, "site/ha": true,
		"": false, "home+": false, "ha/#": false, "$SYS/ha": false, "tether/v1/ha": false, "tether/v1": false,
		"/ha": false, "ha/": false, "a//b": false, strings.Repeat("h", 65): false,
	} {
		if err := ValidateDiscoveryPrefix(p); (err == nil) != ok {
			t.Errorf("ValidateDiscoveryPrefix(%q) = %v, want ok %v", p, err, ok)
		}
	}
}
