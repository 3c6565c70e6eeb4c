package task

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

// badCases are payloads every JSON decoder must refuse, with the error
// class.
var badCases = []struct {
	name    string
	payload string
	want    error
}{
	{"empty", ``, protocol.ErrSyntax},
	{"garbage", "\x00\xff garbage", protocol.ErrSyntax},
	{"not an object", `[1,2,3]`, protocol.ErrSyntax},
	{"trailing data", `{"v":1} {"v":1}`, protocol.ErrSyntax},
	{"wrong type", `{"v":1,"task":7,"kind":7}`, protocol.ErrSyntax},
	{"oversized", `{"v":1,"pad":"` + strings.Repeat("x", MaxMessage) + `"}`, protocol.ErrTooLarge},
	{"empty object", `{}`, nil}, // ErrVersion for messages, ErrInvalid for a spec
}

func TestDecodersRejectBadInput(t *testing.T) {
	for _, c := range badCases {
		for kind, decode := range decoders {
			want := c.want
			if want == nil {
				want = protocol.ErrVersion
				if kind == "spec" {
					want = protocol.ErrInvalid
				}
			}
			if _, err := decode([]byte(c.payload)); !errors.Is(err, want) {
				t.Errorf("%s: %s: %v, want %v", c.name, kind, err, want)
			}
		}
	}
}

func TestDecodersRefuseOtherVersions(t *testing.T) {
	for name, msg := range examples {
		if strings.HasPrefix(name, "spec") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			b, _ := json.Marshal(msg)
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["v"] = 2
			// A later version may have fields this one does not know:
			// strict decoders still say the version is the problem.
			m["added_in_v2"] = true
			b, _ = json.Marshal(m)
			if _, err := decoderFor(name)(b); !errors.Is(err, protocol.ErrVersion) {
				t.Fatalf("%v, want ErrVersion", err)
			}
		})
	}
}

// TestUnknownFields pins the choice the package doc explains: what makes
// something happen is strict, what reports a state is lenient.
func TestUnknownFields(t *testing.T) {
	strict := map[string]bool{"spec-exec": true, "submit": true, "control": true, "assignment": true, "envelope": true,
		"reply": false, "status": false, "event": false}
	for name, isStrict := range strict {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			b, _ := json.Marshal(examples[name])
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["retires"] = 3
			b, _ = json.Marshal(m)
			_, err := decoderFor(name)(b)
			switch {
			case isStrict && !errors.Is(err, protocol.ErrSyntax):
				t.Fatalf("unknown field accepted: %v", err)
			case isStrict && !strings.Contains(err.Error(), `"retires"`):
				t.Fatalf("error does not name the field: %v", err)
			case !isStrict && err != nil:
				t.Fatalf("unknown field refused: %v", err)
			}
		})
	}
	// Strict all the way down: a field unknown inside the spec.
	b := []byte(`{"kind":"exec","exec":{"command":"/bin/true","argv":["x"]}}`)
	if _, err := DecodeSpecJSON(b); !errors.Is(err, protocol.ErrSyntax) {
		t.Fatalf("nested unknown field: %v, want ErrSyntax", err)
	}
}

func TestSpecJSONErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
		mention  string // a part of the message a submitter acts on
	}{
		{"duration without unit", `{"kind":"exec","exec":{"command":"/bin/true"},"timeout":"60"}`, protocol.ErrSyntax, `"90s"`},
		{"duration as a number", `{"kind":"exec","exec":{"command":"/bin/true"},"timeout":60}`, protocol.ErrSyntax, "timeout"},
		{"units as text", `{"kind":"builtin","builtin":{"name":"cpu","units":"ten"}}`, protocol.ErrSyntax, "units"},
		{"invalid", `{"kind":"builtin","builtin":{"name":"cpu"}}`, protocol.ErrInvalid, "spec.builtin.units: is 0"},
		{"null", `null`, protocol.ErrInvalid, "spec.kind: is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeSpecJSON([]byte(c.in))
			if !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("%q does not mention %q", err, c.mention)
			}
		})
	}
}

// mutate encodes the example name, applies f to a copy of it, and returns
// the fields the decoder's error names.
func mutateAndDecode[T any](t *testing.T, name string, f func(m *T)) error {
	t.Helper()
	b, err := json.Marshal(examples[name])
	if err != nil {
		t.Fatal(err)
	}
	var m T
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(&m)
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decoderFor(name)(b)
	return err
}

type messageCase[T any] struct {
	name   string
	mutate func(m *T)
	want   []string
}

func runMessageCases[T any](t *testing.T, example string, cases []messageCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := mutateAndDecode(t, example, c.mutate)
			if !errors.Is(err, protocol.ErrInvalid) {
				t.Fatalf("%v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(c.want, fields(err)); diff != "" {
				t.Errorf("fields named (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestSubmitRequestValidation(t *testing.T) {
	runMessageCases(t, "submit", []messageCase[SubmitRequest]{
		{"no request id", func(m *SubmitRequest) { m.RequestID = "" }, []string{"request_id", "reply_to"}},
		{"request id with a slash", func(m *SubmitRequest) {
			m.RequestID = "a/b"
			m.ReplyTo = "tether/v1/eu-1/replies/alice/a/b"
		}, []string{"request_id", "reply_to"}},
		{"no reply topic", func(m *SubmitRequest) { m.ReplyTo = "" }, []string{"reply_to"}},
		{"reply to a command topic", func(m *SubmitRequest) { m.ReplyTo = "tether/v1/eu-1/nodes/pi-0001/cmd/task" }, []string{"reply_to"}},
		{"reply with a wildcard", func(m *SubmitRequest) { m.ReplyTo = "tether/v1/eu-1/replies/+/req-7" }, []string{"reply_to"}},
		{"reply outside tether", func(m *SubmitRequest) { m.ReplyTo = "replies/alice/req-7" }, []string{"reply_to"}},
		{"reply to another request", func(m *SubmitRequest) { m.ReplyTo = "tether/v1/eu-1/replies/alice/req-6" }, []string{"reply_to"}},
		{"invalid spec", func(m *SubmitRequest) { m.Spec.Builtin.Units = -1 }, []string{"spec.builtin.units"}},
	})
}

func TestControlRequestValidation(t *testing.T) {
	runMessageCases(t, "control", []messageCase[ControlRequest]{
		{"unknown op", func(m *ControlRequest) { m.Op = "pause" }, []string{"op"}},
		{"no task", func(m *ControlRequest) { m.Task = "" }, []string{"task"}},
		{"bad reply topic", func(m *ControlRequest) { m.ReplyTo = "tether/v1/eu-1/replies/alice" }, []string{"reply_to"}},
	})
}

func TestReplyValidation(t *testing.T) {
	runMessageCases(t, "reply", []messageCase[Reply]{
		{"no request id", func(m *Reply) { m.RequestID = "" }, []string{"request_id"}},
		{"ok with an error", func(m *Reply) { m.Error = "but" }, []string{"error"}},
		{"refusal without a reason", func(m *Reply) { m.OK = false }, []string{"error"}},
		{"unknown state", func(m *Reply) { m.State = "queued" }, []string{"state"}},
		{"refused but existing", func(m *Reply) { m.OK, m.Error, m.Existing = false, "no", true }, []string{"existing"}},
		{"bad task id", func(m *Reply) { m.Task = "a b" }, []string{"task"}},
	})
	runMessageCases(t, "reply-refused", []messageCase[Reply]{
		{"long error", func(m *Reply) { m.Error = strings.Repeat("e", MaxError+1) }, []string{"error"}},
	})
}

func TestStatusValidation(t *testing.T) {
	runMessageCases(t, "status", []messageCase[Status]{
		{"unknown state", func(m *Status) { m.State = "checkpoint" }, []string{"state"}},
		{"no task", func(m *Status) { m.Task = "" }, []string{"task"}},
		{"bad node", func(m *Status) { m.Node = "pi/1" }, []string{"node"}},
		{"not submitted", func(m *Status) { m.Submitted = time.Time{} }, []string{"submitted"}},
		{"not updated", func(m *Status) { m.Updated = time.Time{} }, []string{"updated"}},
		{"updated before submitted", func(m *Status) { m.Updated = m.Submitted.Add(-time.Second) }, []string{"updated"}},
		{"progress past total", func(m *Status) { m.Progress = m.Total + 1 }, []string{"progress"}},
		{"negative progress", func(m *Status) { m.Progress = -1 }, []string{"progress"}},
		{"attempt 0", func(m *Status) { m.Attempts[0].N = 0 }, []string{"attempts[0].n"}},
		{"attempt without node", func(m *Status) { m.Attempts[1].Node = "" }, []string{"attempts[1].node"}},
		{"attempt ended before assigned", func(m *Status) { m.Attempts[0].Ended = m.Attempts[0].Assigned.Add(-1) },
			[]string{"attempts[0].ended"}},
		{"attempt in an unknown state", func(m *Status) { m.Attempts[0].State = "gone" }, []string{"attempts[0].state"}},
		{"too many attempts", func(m *Status) {
			for len(m.Attempts) <= MaxAttempts {
				m.Attempts = append(m.Attempts, m.Attempts[1])
			}
		}, []string{"attempts"}},
		{"bad result", func(m *Status) { m.Result = &Result{ExitCode: 256} }, []string{"result.exit_code"}},
		{"invalid spec", func(m *Status) { m.Spec.Timeout = -1 }, []string{"spec.timeout"}},
	})
}

func TestAssignmentValidation(t *testing.T) {
	runMessageCases(t, "assignment", []messageCase[Assignment]{
		{"unknown op", func(m *Assignment) { m.Op = "pause" }, []string{"op"}},
		{"attempt 0", func(m *Assignment) { m.Attempt = 0 }, []string{"attempt"}},
		{"bad node", func(m *Assignment) { m.Node = "pi 1" }, []string{"node"}},
		{"no task", func(m *Assignment) { m.Task = "" }, []string{"task", "spec.id"}},
		{"not issued", func(m *Assignment) { m.Issued = time.Time{} }, []string{"issued"}},
		{"expires when issued", func(m *Assignment) { m.Expires = m.Issued }, []string{"expires"}},
		{"expires before issued", func(m *Assignment) { m.Expires = m.Issued.Add(-time.Minute) }, []string{"expires"}},
		{"run without spec", func(m *Assignment) { m.Spec = nil }, []string{"spec"}},
		{"invalid spec", func(m *Assignment) { m.Spec.Builtin.Name = "gpu" }, []string{"spec.builtin.name"}},
		{"spec of another task", func(m *Assignment) { m.Spec.ID = "other" }, []string{"spec.id"}},
		{"checkpoint too large", func(m *Assignment) { m.Checkpoint = make([]byte, MaxCheckpoint+1) }, []string{"checkpoint"}},
		{"checkpoint of a task that cannot resume", func(m *Assignment) { m.Spec.Checkpointable = false }, []string{"checkpoint"}},
		{"negative progress", func(m *Assignment) { m.Progress = -1 }, []string{"progress"}},
		{"progress past the units", func(m *Assignment) { m.Progress = m.Spec.Builtin.Units + 1 }, []string{"progress"}},
		{"cancel with a spec", func(m *Assignment) { m.Op = AssignCancel }, []string{"op"}},
		{"yield with a spec", func(m *Assignment) { m.Op = AssignYield }, []string{"op"}},
	})
	// A cancel or a yield carries nothing but whom and what.
	for _, op := range []string{AssignCancel, AssignYield} {
		a := examplesAssignment()
		a.Op, a.Spec, a.Checkpoint, a.Progress = op, nil, nil, 0
		if err := a.Validate(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		a.Progress = 5
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "op") {
			t.Fatalf("%s with progress: %v", op, err)
		}
	}
}

func TestEnvelopeValidation(t *testing.T) {
	runMessageCases(t, "envelope", []messageCase[Envelope]{
		{"no key", func(m *Envelope) { m.Key = "" }, []string{"key"}},
		{"upper-case key", func(m *Envelope) { m.Key = strings.ToUpper(m.Key) }, []string{"key"}},
		{"short key", func(m *Envelope) { m.Key = m.Key[:15] }, []string{"key"}},
		{"no body", func(m *Envelope) { m.Body = nil }, []string{"body"}},
		{"short signature", func(m *Envelope) { m.Sig = m.Sig[:63] }, []string{"sig"}},
	})
}

func TestEventValidation(t *testing.T) {
	runMessageCases(t, "event", []messageCase[Event]{
		{"unknown state", func(m *Event) { m.State = "paused" }, []string{"state"}},
		{"scheduler state", func(m *Event) { m.State = StatePending }, []string{"state"}},
		{"no task", func(m *Event) { m.Task = "" }, []string{"task"}},
		{"attempt 0", func(m *Event) { m.Attempt = 0 }, []string{"attempt"}},
		{"progress past total", func(m *Event) { m.Progress = m.Total + 1 }, []string{"progress"}},
		{"negative total", func(m *Event) { m.Total = -1 }, []string{"progress"}},
		{"checkpoint too large", func(m *Event) { m.Checkpoint = make([]byte, MaxCheckpoint+1) }, []string{"checkpoint"}},
		{"result while running", func(m *Event) { m.Result = &Result{} }, []string{"result"}},
		{"long error", func(m *Event) { m.Error = strings.Repeat("e", MaxError+1) }, []string{"error"}},
	})
	runMessageCases(t, "event-progress", []messageCase[Event]{
		{"with a checkpoint", func(m *Event) { m.Checkpoint = []byte("x") }, []string{"state"}},
		{"resumed", func(m *Event) { m.Resumed = true }, []string{"state"}},
		{"with a result", func(m *Event) { m.Result = &Result{} }, []string{"result"}},
		{"progress past total", func(m *Event) { m.Progress = m.Total + 1 }, []string{"progress"}},
	})
	runMessageCases(t, "event-succeeded", []messageCase[Event]{
		{"exit code below -1", func(m *Event) { m.Result.ExitCode = -2 }, []string{"result.exit_code"}},
		{"negative cpu", func(m *Event) { m.Result.CPUMS = -1 }, []string{"result"}},
		{"long stdout", func(m *Event) { m.Result.Stdout = strings.Repeat("o", MaxTail+1) }, []string{"result.stdout"}},
		{"long stderr", func(m *Event) { m.Result.Stderr = strings.Repeat("o", MaxTail+1) }, []string{"result.stderr"}},
		{"long output", func(m *Event) { m.Result.Output = strings.Repeat("o", MaxTail+1) }, []string{"result.output"}},
	})
	// The header follows pkg/protocol's rules, with its error classes.
	for name, c := range map[string]struct {
		mutate func(m *Event)
		want   error
	}{
		"header version": {func(m *Event) { m.V = 2 }, protocol.ErrVersion},
		"no seq":         {func(m *Event) { m.Seq = 0 }, protocol.ErrInvalid},
		"no instance":    {func(m *Event) { m.Instance = "" }, protocol.ErrInvalid},
		"bad node":       {func(m *Event) { m.Node = "a/+" }, protocol.ErrInvalid},
		"no ts":          {func(m *Event) { m.TS = time.Time{} }, protocol.ErrInvalid},
	} {
		if err := mutateAndDecode(t, "event", c.mutate); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestParseReplyTo(t *testing.T) {
	topics, err := protocol.NewTopics("eu-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReplyTo(topics.Reply("alice", "req-7"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReplyTopic{Region: "eu-1", Client: "alice", Request: "req-7"}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"", "tether/v1", "tether/v1/eu-1/replies/alice", "tether/v1/eu-1/replies/alice/req-7/more",
		"tether/v2/eu-1/replies/alice/req-7", "tether/v1/eu-1/tasks/status/req-7",
		"tether/v1/eu-1/replies/#/req-7", "tether/v1/$SYS/replies/alice/req-7", "tether/v1/eu-1/replies/alice/",
	} {
		if _, err := ParseReplyTo(bad); err == nil {
			t.Errorf("ParseReplyTo(%q) accepted", bad)
		}
	}
}
