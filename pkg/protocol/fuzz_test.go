package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/roundtrip"
)

// hostileSeeds are messages a broken or hostile node has sent: times that
// cannot be written back, a seq at 2⁶⁴−1, a huge task_slots, births cycling
// instance ids, and junk.
var hostileSeeds = []string{
	metricsWith(`"seq":1,"ts":"` + tsFarFuture + `"`),
	metricsWith(`"seq":1,"ts":"` + tsYearZero + `"`),
	metricsWith(`"seq":18446744073709551615,"ts":"2026-11-27T09:30:00Z"`),
	metricsWith(`"seq":9007199254740991,"from":9007199254740991,"ts":"2026-11-27T09:30:00Z","boot":"b","up_ms":3153600000000`),
	metricsWith(`"seq":1,"ts":"1970-01-01T00:00:42.5Z","boot":"b","up_ms":42500`),
	birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"at":"` + tsFarFuture + `","reason":"MANIFEST torn"}`),
	birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"at":"` + tsYearZero + `","reason":"MANIFEST torn"}`),
	birthWith(`"seq":18446744073709551615,"ts":"2026-11-27T09:30:00+23:59","heartbeat_s":1e300`),
	birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","task_slots":4096,"labels":{"tether.speed":"1000"}}}`,
	birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","task_slots":1e9}}`,
	`{"v":1,"node":"pi-0001","instance":"` + strings.Repeat("f", 256) + `","state":"online","conn":4294967295,"seq":0,"ts":"2026-11-27T09:30:00Z",` + birthFacts + `}`,
	`{"v":1,"node":"pi-0001","instances":["` + strings.Repeat(`i","`, 64) + `j"],"ts":"2026-11-27T09:30:00Z"}`,
	`{"v":1,"ts":"` + tsFarFuture + `","nodes":[{"node":"a","last_seen":"` + tsYearZero + `","seq":18446744073709551615}]}`,
	`{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":2,"online":1,"offline":1,"throttled":1,"duplicates":["pi-a"],"rejected":18446744073709551615}`,
	`{"v":1,"state":"online","instance":"s","version":"0.1.0","ts":"0000-01-01T00:00:00+23:59"}`,
	`{"v":1,"state":"online","instance":"s","version":"0.1.0","ts":"2026-11-27T09:30:00Z","epoch":18446744073709551615}`,
	`{"v":1,"node":"pi-a","pad":"\u003c\u003e\u0026\u2028"}`,
	birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","health":{"disk_full":true,"disk_full":false}`),
	birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","health":{}`),
	`{"v":1,"node":"pi-0001","instance":"01JDQ8Z3K4","state":"offline","reason":"shutdown","seq":0,"ts":"2026-11-27T09:30:00Z","health":{"disk_full":true}}`,
	`{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","online":true,"disk_full":true}]}`,
	`{"v":1,"ts":"2026-11-27T09:30:00Z","scheduler":"s","node":"a","online":true,"last_seen":"` + tsFarFuture + `","seq":18446744073709551615}`,
	`{"v":1,"ts":"` + tsYearZero + `","node":"a","online":false,"gaps":9007199254740991}`,
	"\xff\xfe{\"v\":1}",
	`{"v":1,"node":"pi-7","token":"0123456789ab.` + strings.Repeat("A", 43) + `","password":"` + strings.Repeat("p", 32) + `"}`,
	`{"v":1,"node":"pi-7","token":"\u0000","password":"` + strings.Repeat("\u00e9", 16) + `"}`,
	`{"v":1,"node":"pi-7","outcome":"pending","reason":"enrolment token expired"}`,
	`{"v":1,"node":"pi-7","outcome":"refused","reason":""}`,
}

func FuzzDecoders(f *testing.F) {
	for _, c := range badCases {
		f.Add([]byte(c.payload))
	}
	for _, m := range examples {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	for _, s := range hostileSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever arrives, decoders return a value or an error; what
		// they accept encodes again, to the same value.
		if m, err := DecodeNodeStatus(data); err == nil {
			roundtrip.JSON(t, m, DecodeNodeStatus)
		}
		if m, err := DecodeMetrics(data); err == nil {
			roundtrip.JSON(t, m, DecodeMetrics)
		}
		if m, err := DecodeSchedulerStatus(data); err == nil {
			roundtrip.JSON(t, m, DecodeSchedulerStatus)
		}
		if m, err := DecodeFleetSummary(data); err == nil {
			roundtrip.JSON(t, m, DecodeFleetSummary)
		}
		if m, err := DecodeFleetNodes(data); err == nil {
			roundtrip.JSON(t, m, DecodeFleetNodes)
		}
		if m, err := DecodeDuplicateNotice(data); err == nil {
			roundtrip.JSON(t, m, DecodeDuplicateNotice)
		}
		if m, err := DecodeFleetRow(data); err == nil {
			roundtrip.JSON(t, m, DecodeFleetRow)
		}
		if m, err := DecodeEnrolRequest(data); err == nil {
			roundtrip.JSON(t, m, DecodeEnrolRequest)
		}
		if m, err := DecodeEnrolReply(data); err == nil {
			roundtrip.JSON(t, m, DecodeEnrolReply)
		}
	})
}

// junkTopics are topics a node has published to or a fuzzer might.
var junkTopics = []string{
	"tether/v1/r/nodes/pi-a/junk/7",
	"tether/v1/r/nodes/pi-a/tasks",
	"tether/v1/r/nodes/pi-a/tasks/x",
	"tether/v1/r/nodes/pi-a/cmd/+",
	"tether/v1/r/nodes/pi-a/cmd/a/b",
	"tether/v1/r/nodes/" + strings.Repeat("n", 65) + "/status",
	"$SYS/broker/load",
	"tether/v1/r/tasks/submit",
	"tether/v1/r/nodes/\x00/status",
	"tether/v1/r/nodes/.a/metrics",
}

func FuzzParseNodeTopic(f *testing.F) {
	for _, c := range topicCases {
		f.Add(c.topic)
	}
	for _, s := range junkTopics {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		nt, err := ParseNodeTopic(topic)
		if err != nil {
			return
		}
		// What parses rebuilds to the same topic, which parses to the
		// same parts.
		tp, err := NewTopics(nt.Region)
		if err != nil {
			t.Fatalf("parsed region %q invalid: %v", nt.Region, err)
		}
		var back string
		switch nt.Kind {
		case KindStatus:
			back = tp.NodeStatus(nt.Node)
		case KindMetrics:
			back = tp.NodeMetrics(nt.Node)
		case KindTasks:
			back = tp.NodeTasks(nt.Node)
		default:
			back = tp.NodeCommand(nt.Node, nt.Command)
		}
		if back != topic {
			t.Fatalf("parse(%q) rebuilds to %q", topic, back)
		}
		again, err := ParseNodeTopic(back)
		if err != nil {
			t.Fatalf("rebuilt topic %q does not parse: %v", back, err)
		}
		if diff := cmp.Diff(nt, again); diff != "" {
			t.Fatalf("parse(%q) changes in a round trip:\n%s", topic, diff)
		}
	})
}
