package task

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

var ts = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// testKey is the scheduler key of the examples: ed25519 is deterministic,
// so the golden envelope is too.
var testKey = ed25519.NewKeyFromSeed([]byte("tether example key, not secret!!"))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

func defaulted(s Spec) *Spec {
	s.Defaults()
	return &s
}

func examplesAssignment() Assignment {
	spec := builtinSpec()
	spec.ID = "01JDQA3V7RZ8K2M4N6P8Q0S2T4"
	return Assignment{V: Version, Op: AssignRun, Node: "pi-0001", Task: spec.ID, Attempt: 2,
		Issued: ts, Expires: ts.Add(10 * time.Minute), Spec: defaulted(spec),
		Checkpoint: []byte("units=1200 state=9f86d081884c7d65"), Progress: 1200}
}

func exampleEnvelope() Envelope {
	env, err := Sign(testKey, examplesAssignment())
	if err != nil {
		panic(err)
	}
	return env
}

func eventHeader(seq uint64) protocol.Header {
	return protocol.Header{V: protocol.Version, Node: "pi-0001", Instance: "01JDQ8Z3K4", Store: "5b0c1e9a7d2f4c11",
		Seq: seq, TS: ts, Boot: "5d2f6a0c-7a3e-4a4e-9f2c-4d8c1f1e2b3a", UpMS: 259200000 + seq*1000}
}

// examples are the messages docs/tasks.md shows; the golden files pin
// their encoding.
var examples = map[string]any{
	"spec-exec":    execSpec(),
	"spec-builtin": builtinSpec(),
	"spec-sha256":  sha256Spec(),
	"submit": SubmitRequest{V: Version, RequestID: "req-7", ReplyTo: "tether/v1/eu-1/replies/alice/req-7",
		Spec: builtinSpec()},
	"control": ControlRequest{V: Version, RequestID: "req-8", ReplyTo: "tether/v1/eu-1/replies/alice/req-8",
		Op: OpCancel, Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4"},
	"reply": Reply{V: Version, RequestID: "req-7", OK: true, Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", State: StatePending},
	"control-list": ControlRequest{V: Version, RequestID: "req-10", ReplyTo: "tether/v1/eu-1/replies/alice/req-10",
		Op: OpList, After: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", Limit: 100},
	"reply-quarantine": Reply{V: Version, RequestID: "req-11", OK: true,
		Quarantine: []Quarantined{{Node: "pi-0007", Until: ts.Add(10 * time.Minute)}}},
	"reply-refused": Reply{V: Version, RequestID: "req-9", Error: "spec.builtin.units: is 0: want 1 to 1000000000\n" +
		`spec.constraints.tier: is "fog": want "any", "edge" or "cloud"`},
	"status": Status{V: Version, Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", State: StateRunning, Attempt: 2, Node: "pi-0001",
		Submitted: ts.Add(-3 * time.Minute), Updated: ts.Add(20 * time.Second), Progress: 1500, Total: 3000,
		Attempts: []Attempt{
			{N: 1, Node: "pi-0002", Assigned: ts.Add(-3 * time.Minute), Ended: ts.Add(-10 * time.Second),
				State: EventCheckpoint, Reason: "node lost"},
			{N: 2, Node: "pi-0001", Assigned: ts, State: EventRunning, ResumedFrom: 1200},
		},
		Spec: examplesAssignment().Spec},
	"assignment": examplesAssignment(),
	"assignment-cancel-ha": Assignment{V: Version, Op: AssignCancel, Node: "pi-0001", Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4",
		Attempt: 2, Issued: ts, Expires: ts.Add(10 * time.Minute), Epoch: 7},
	"assignment-yield": Assignment{V: Version, Op: AssignYield, Node: "pi-0001", Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4",
		Attempt: 2, Issued: ts, Expires: ts.Add(10 * time.Minute)},
	"status-ha": Status{V: Version, Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", State: StateAssigned, Attempt: 3, Node: "pi-0003",
		Submitted: ts.Add(-3 * time.Minute), Updated: ts.Add(time.Minute), Epoch: 7},
	"envelope": exampleEnvelope(),
	"event": Event{Header: eventHeader(58), Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", Attempt: 2, State: EventCheckpoint,
		Progress: 1500, Total: 3000, Checkpoint: []byte("units=1500 state=2c26b46b68ffc68f")},
	"event-progress": Event{Header: eventHeader(59), Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", Attempt: 2, State: EventProgress,
		Progress: 1730, Total: 3000},
	"event-yielded": Event{Header: eventHeader(60), Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", Attempt: 2, State: EventYielded,
		Progress: 1742, Total: 3000, Error: "yielded to the scheduler"},
	"event-succeeded": Event{Header: eventHeader(61), Task: "01JDQA3V7RZ8K2M4N6P8Q0S2T4", Attempt: 2,
		State: EventSucceeded, Progress: 3000, Total: 3000, Result: &Result{ExitCode: 0, CPUMS: 17950, MaxRSSKB: 5120,
			Output: "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", WorkDone: 1800, DurationMS: 18210, FetchMS: 240}},
}

// decoders decode each example by the prefix of its name.
var decoders = map[string]func([]byte) (any, error){
	"spec":       func(b []byte) (any, error) { return DecodeSpecJSON(b) },
	"submit":     func(b []byte) (any, error) { return DecodeSubmitRequest(b) },
	"control":    func(b []byte) (any, error) { return DecodeControlRequest(b) },
	"reply":      func(b []byte) (any, error) { return DecodeReply(b) },
	"status":     func(b []byte) (any, error) { return DecodeStatus(b) },
	"assignment": func(b []byte) (any, error) { return DecodeAssignment(b) },
	"envelope":   func(b []byte) (any, error) { return DecodeEnvelope(b) },
	"event":      func(b []byte) (any, error) { return DecodeEvent(b) },
}

func decoderFor(name string) func([]byte) (any, error) {
	kind, _, _ := strings.Cut(name, "-")
	return decoders[kind]
}

func TestGolden(t *testing.T) {
	for name, msg := range examples {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want := testenv.Golden(t, filepath.Join("testdata", name+".golden.json"), got, *update)
			back, err := decoderFor(name)(want)
			if err != nil {
				t.Fatalf("golden file does not decode: %v", err)
			}
			if diff := cmp.Diff(msg, back); diff != "" {
				t.Fatalf("round trip (-sent +decoded):\n%s", diff)
			}
		})
	}
}

// The golden envelope verifies: the signature pinned in testdata is over
// the assignment's JSON as Sign makes it.
func TestGoldenEnvelopeVerifies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "envelope.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Verify([]ed25519.PublicKey{testPub()}, env, "pi-0001", ts.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(examplesAssignment(), a); diff != "" {
		t.Fatalf("assignment (-signed +verified):\n%s", diff)
	}
}

// sha256Spec is docs/tasks.md's sha256 builtin with one input.
func sha256Spec() Spec {
	id, err := blob.ParseID("sha256:8a1c0f5e3b7d2c9a4f6e1b0d8c7a5f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a:20971520")
	if err != nil {
		panic(err)
	}
	return Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinSHA256},
		Inputs: map[string]Input{"frame": {Blob: id}}, Outputs: []string{SHA256Output}}
}
