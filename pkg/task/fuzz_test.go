package task

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/roundtrip"
	"go.yaml.in/yaml/v3"
)

// fuzzSeeds are the payloads of badCases but the oversized one: the size
// check needs no fuzzing, and a 256 KiB seed slows every mutation.
func fuzzSeeds() []string {
	var seeds []string
	for _, c := range badCases {
		if len(c.payload) <= 1<<10 {
			seeds = append(seeds, c.payload)
		}
	}
	return seeds
}

// hostileSeeds are the golden messages with the hostile values of
// boundCases (times that cannot be written back, seq 2⁶⁴−1, counts past
// 2⁵³), and junk.
func hostileSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range boundCases {
		b, err := os.ReadFile(filepath.Join("testdata", c.golden+".golden.json"))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, []byte(strings.Replace(string(b), c.old, c.new, 1)))
	}
	return append(seeds, []byte(`{"v":1,"op":"run","node":"pi-a","task":"t","attempt":4294967295,"issued":"`+tsYearZero+`","expires":"`+tsFarFuture+`"}`),
		[]byte(`{"v":1,"task":"t","state":"running","submitted":"1970-01-01T00:00:00Z","updated":"2199-12-31T23:59:59.999+23:59"}`))
}

// FuzzDecodeSpec feeds the same bytes to both spec decoders. Neither may
// panic; a spec either accepts must survive a round trip through JSON (and
// through YAML), decode the same, and be accepted by the JSON decoder too:
// the two forms accept the same specs.
func FuzzDecodeSpec(f *testing.F) {
	for _, c := range fuzzSeeds() {
		f.Add([]byte(c))
	}
	for _, name := range []string{"spec-exec", "spec-builtin"} {
		b, _ := json.Marshal(examples[name])
		f.Add(b)
	}
	yamls, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, path := range yamls {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: exec\nexec: {command: /bin/true}\n---\nkind: exec\n"))
	f.Add([]byte("kind: builtin\nbuiltin: &b {name: cpu, units: 1}\nexec: *b\n"))
	f.Add([]byte("kind: exec\nexec: {command: !!binary L2Jpbi90cnVl, args: [!!binary /w==]}\n"))
	f.Add([]byte(`{"kind":"exec","exec":{"command":"/bin/true","env":{"A":"\u0000"}},"timeout":"1.5s"}`))

	sameSpec := cmpopts.EquateEmpty()
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := DecodeSpecJSON(data); err == nil {
			roundtrip.JSON(t, s, DecodeSpecJSON)
		}
		if s, err := DecodeSpecYAML(data); err == nil {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("accepted YAML spec does not encode: %v", err)
			}
			back, err := DecodeSpecJSON(b)
			if err != nil {
				t.Fatalf("spec accepted as YAML is refused as JSON: %v\n%s", err, b)
			}
			if diff := cmp.Diff(s, back, sameSpec); diff != "" {
				t.Fatalf("YAML to JSON changed the spec (-YAML +JSON):\n%s", diff)
			}
			y, err := yaml.Marshal(s)
			if err != nil {
				t.Fatalf("accepted YAML spec does not encode as YAML: %v", err)
			}
			again, err := DecodeSpecYAML(y)
			if err != nil {
				t.Fatalf("accepted YAML spec does not re-decode: %v\n%s", err, y)
			}
			if diff := cmp.Diff(s, again, sameSpec); diff != "" {
				t.Fatalf("YAML round trip changed the spec (-first +second):\n%s", diff)
			}
		}
	})
}

// FuzzDecodeMessages feeds the same bytes to every message decoder. None
// may panic; what one accepts must survive a round trip and decode the
// same.
func FuzzDecodeMessages(f *testing.F) {
	for _, c := range fuzzSeeds() {
		f.Add([]byte(c))
	}
	for _, m := range examples {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	for _, s := range hostileSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"v":1,"nodes":[{"node":"pi-a","until":"` + tsFarFuture + `"},{"node":"pi-b","until":"` + tsYearZero + `"}]}`))
	f.Add([]byte(`{"v":1,"nodes":[{"node":"a/+/#","until":"2026-11-27T09:30:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range decoders {
			if m, err := decode(data); err == nil {
				roundtrip.JSON(t, m, decode)
			}
		}
		if m, err := DecodeQuarantineList(data); err == nil {
			roundtrip.JSON(t, m, DecodeQuarantineList)
		}
	})
}

// FuzzParseReplyTo: a reply topic a requester names is refused, or
// rebuilds to the same topic, which parses to the same parts.
func FuzzParseReplyTo(f *testing.F) {
	for _, s := range []string{"tether/v1/eu-1/replies/alice/req-7", "tether/v1/eu-1/replies/alice/req-7/more",
		"tether/v1/eu-1/nodes/pi-a/cmd/task", "tether/v1/$SYS/replies/alice/req-7", "tether/v1/eu-1/replies/#/+",
		"tether/v1/eu-1/replies/" + strings.Repeat("a", 65) + "/r", "tether/v1/eu-1/replies/alice/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		r, err := ParseReplyTo(topic)
		if err != nil {
			return
		}
		topics, err := protocol.NewTopics(r.Region)
		if err != nil {
			t.Fatalf("parsed region %q is invalid: %v", r.Region, err)
		}
		back := topics.Reply(r.Client, r.Request)
		if back != topic {
			t.Fatalf("ParseReplyTo(%q) rebuilds to %q", topic, back)
		}
		again, err := ParseReplyTo(back)
		if err != nil || again != r {
			t.Fatalf("rebuilt %q parses to %+v, %v; want %+v", back, again, err, r)
		}
	})
}

// FuzzVerify gives Verify envelopes from the network (envelope) and bodies
// the scheduler's key signed (body: what a compromised or buggy scheduler
// could send). Verify must not panic, and whatever it accepts is for this
// node, valid now, and passes Validate.
func FuzzVerify(f *testing.F) {
	good := exampleEnvelope()
	goodJSON, _ := json.Marshal(good)
	f.Add(goodJSON, good.Body)
	for _, c := range fuzzSeeds() {
		f.Add([]byte(c), []byte(c))
	}
	for _, m := range examples {
		b, _ := json.Marshal(m)
		f.Add(b, b)
	}
	for _, s := range hostileSeeds(f) {
		f.Add(s, s)
	}
	keys := []ed25519.PublicKey{testPub()}
	const node = "pi-0001"
	now := ts.Add(2 * 60e9)
	check := func(t *testing.T, a Assignment, err error) {
		if err != nil {
			return
		}
		if a.Node != node {
			t.Fatalf("accepted an assignment for %q", a.Node)
		}
		if now.Add(ClockSkew).Before(a.Issued) || now.After(a.Expires.Add(ClockSkew)) {
			t.Fatalf("accepted an assignment valid %v to %v at %v", a.Issued, a.Expires, now)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an invalid assignment: %v", err)
		}
		roundtrip.JSON(t, a, DecodeAssignment)
	}
	f.Fuzz(func(t *testing.T, envelope, body []byte) {
		if env, err := DecodeEnvelope(envelope); err == nil {
			a, err := Verify(keys, env, node, now)
			check(t, a, err)
		}
		a, err := Verify(keys, signRaw(testKey, body), node, now)
		check(t, a, err)
	})
}
