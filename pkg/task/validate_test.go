package task

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

func execSpec() Spec {
	return Spec{
		ID:   "resize-0042",
		Kind: KindExec,
		Exec: &Exec{Command: "/usr/local/bin/resize", Args: []string{"--width", "640", "in.jpg"},
			Env: map[string]string{"OMP_NUM_THREADS": "2"}, Workdir: "/var/lib/tether/work"},
		Resources:   Resources{CPUMillis: 1500, MemMB: 256},
		Work:        12.5,
		InputBytes:  4 << 20,
		OutputBytes: 200 << 10,
		InputAt:     "cam-07",
		Deadline:    Duration(2 * time.Minute),
		Priority:    5,
		Constraints: Constraints{Labels: map[string]string{"site": "greenhouse-2"}, Tier: TierEdge},
		Timeout:     Duration(10 * time.Minute),
		Retries:     2,
		Policy:      "tether",
	}
}

func builtinSpec() Spec {
	return Spec{
		Kind:           KindBuiltin,
		Builtin:        &Builtin{Name: BuiltinCPU, Units: 3000},
		Work:           30,
		Checkpointable: true,
	}
}

// fields lists the Field of every FieldError in err, in order.
func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe *FieldError
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
		default:
			if errors.As(err, &fe) {
				out = append(out, fe.Field)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestValidateAcceptsGoodSpecs(t *testing.T) {
	for name, s := range map[string]Spec{
		"exec":    execSpec(),
		"builtin": builtinSpec(),
		"minimal": {Kind: KindExec, Exec: &Exec{Command: "/bin/true"}},
		"sleep":   {Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinSleep, Units: 1, UnitMS: 60000, CheckpointEvery: 1}},
		"cloud input, any tier": {Kind: KindExec, Exec: &Exec{Command: "/bin/true"}, InputAt: InputCloud,
			Constraints: Constraints{Tier: TierAny}, Timeout: Duration(7 * 24 * time.Hour), Retries: 100},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			s.Defaults()
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate after Defaults: %v", err)
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	long := strings.Repeat("x", 5000)
	cases := []struct {
		name   string
		mutate func(s *Spec)
		want   []string // the fields named, in order
	}{
		{"bad id", func(s *Spec) { s.ID = "a/b" }, []string{"spec.id"}},
		{"long id", func(s *Spec) { s.ID = long }, []string{"spec.id"}},
		{"no kind", func(s *Spec) { s.Kind = "" }, []string{"spec.kind"}},
		{"unknown kind", func(s *Spec) { s.Kind = "docker" }, []string{"spec.kind"}},
		{"exec without exec", func(s *Spec) { s.Exec = nil }, []string{"spec.exec"}},
		{"exec with builtin", func(s *Spec) { s.Builtin = &Builtin{Name: BuiltinCPU, Units: 1} }, []string{"spec.builtin"}},
		{"no command", func(s *Spec) { s.Exec.Command = "" }, []string{"spec.exec.command"}},
		{"relative command", func(s *Spec) { s.Exec.Command = "bin/resize" }, []string{"spec.exec.command"}},
		{"root as command", func(s *Spec) { s.Exec.Command = "/" }, []string{"spec.exec.command"}},
		{"unclean command", func(s *Spec) { s.Exec.Command = "/usr/local//bin/../bin/resize" }, []string{"spec.exec.command"}},
		{"long command", func(s *Spec) { s.Exec.Command = "/" + long }, []string{"spec.exec.command"}},
		{"NUL in command", func(s *Spec) { s.Exec.Command = "/bin/a\x00b" }, []string{"spec.exec.command"}},
		{"relative workdir", func(s *Spec) { s.Exec.Workdir = "work" }, []string{"spec.exec.workdir"}},
		{"too many args", func(s *Spec) { s.Exec.Args = make([]string, 65) }, []string{"spec.exec.args"}},
		{"long arg", func(s *Spec) { s.Exec.Args = []string{"a", long} }, []string{"spec.exec.args[1]"}},
		{"NUL in arg", func(s *Spec) { s.Exec.Args = []string{"a\x00"} }, []string{"spec.exec.args[0]"}},
		{"invalid UTF-8 arg", func(s *Spec) { s.Exec.Args = []string{"\xff"} }, []string{"spec.exec.args[0]"}},
		{"args too large together", func(s *Spec) {
			s.Exec.Args = nil
			for range 9 {
				s.Exec.Args = append(s.Exec.Args, strings.Repeat("a", 4000))
			}
		}, []string{"spec.exec"}},
		{"too many env", func(s *Spec) {
			for i := range 64 {
				s.Exec.Env[fmt.Sprintf("V%d", i)] = ""
			}
		}, []string{"spec.exec.env"}},
		{"bad env name", func(s *Spec) { s.Exec.Env["1X"] = "a" }, []string{`spec.exec.env["1X"]`}},
		{"env name with '='", func(s *Spec) { s.Exec.Env["A=B"] = "a" }, []string{`spec.exec.env["A=B"]`}},
		{"agent's env", func(s *Spec) { s.Exec.Env["TETHER_CHECKPOINT_DIR"] = "/tmp" }, []string{`spec.exec.env["TETHER_CHECKPOINT_DIR"]`}},
		{"long env value", func(s *Spec) { s.Exec.Env["A"] = long }, []string{`spec.exec.env["A"]`}},
		{"negative cpu", func(s *Spec) { s.Resources.CPUMillis = -1 }, []string{"spec.resources.cpu_millis"}},
		{"huge memory", func(s *Spec) { s.Resources.MemMB = 1 << 40 }, []string{"spec.resources.mem_mb"}},
		{"negative work", func(s *Spec) { s.Work = -1 }, []string{"spec.work"}},
		{"NaN work", func(s *Spec) { s.Work = nan() }, []string{"spec.work"}},
		{"long class", func(s *Spec) { s.Class = long }, []string{"spec.class"}},
		{"negative input", func(s *Spec) { s.InputBytes = -1 }, []string{"spec.input_bytes"}},
		{"negative output", func(s *Spec) { s.OutputBytes = -1 }, []string{"spec.output_bytes"}},
		{"input at a bad node", func(s *Spec) { s.InputAt = "cam 7" }, []string{"spec.input_at"}},
		{"negative deadline", func(s *Spec) { s.Deadline = -1 }, []string{"spec.deadline"}},
		{"deadline of years", func(s *Spec) { s.Deadline = Duration(400 * 24 * time.Hour) }, []string{"spec.deadline"}},
		{"huge priority", func(s *Spec) { s.Priority = maxPriority + 1 }, []string{"spec.priority"}},
		{"short timeout", func(s *Spec) { s.Timeout = Duration(time.Millisecond) }, []string{"spec.timeout"}},
		{"negative timeout", func(s *Spec) { s.Timeout = -Duration(time.Hour) }, []string{"spec.timeout"}},
		{"timeout over a week", func(s *Spec) { s.Timeout = Duration(8 * 24 * time.Hour) }, []string{"spec.timeout"}},
		{"negative retries", func(s *Spec) { s.Retries = -1 }, []string{"spec.retries"}},
		{"too many retries", func(s *Spec) { s.Retries = 101 }, []string{"spec.retries"}},
		{"unknown tier", func(s *Spec) { s.Constraints.Tier = "fog" }, []string{"spec.constraints.tier"}},
		{"bad label key", func(s *Spec) { s.Constraints.Labels["a b"] = "c" }, []string{`spec.constraints.labels["a b"]`}},
		{"long label value", func(s *Spec) { s.Constraints.Labels["site"] = long }, []string{`spec.constraints.labels["site"]`}},
		{"too many labels", func(s *Spec) {
			for i := range 64 {
				s.Constraints.Labels[fmt.Sprintf("l%d", i)] = ""
			}
		}, []string{"spec.constraints.labels"}},
		{"bad policy", func(s *Spec) { s.Policy = "least loaded" }, []string{"spec.policy"}},
		{"every problem at once", func(s *Spec) {
			s.Exec.Command = "resize"
			s.Retries = -1
			s.Constraints.Tier = "fog"
		}, []string{"spec.exec.command", "spec.constraints.tier", "spec.retries"}},
		{"escaping makes it too large", func(s *Spec) {
			// 8 KiB of control characters is 48 KiB of JSON escapes.
			s.Exec.Args = []string{strings.Repeat("\x01", 4000), strings.Repeat("\x01", 4000), strings.Repeat("\x01", 4000)}
		}, []string{"spec"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := execSpec()
			c.mutate(&s)
			err := s.Validate()
			if !errors.Is(err, protocol.ErrInvalid) {
				t.Fatalf("Validate: %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(c.want, fields(err)); diff != "" {
				t.Errorf("fields named (-want +got):\n%s\nerror: %v", diff, err)
			}
			if len(err.Error()) > MaxError {
				t.Errorf("error is %d bytes, more than MaxError", len(err.Error()))
			}
		})
	}
}

func TestValidateBuiltin(t *testing.T) {
	cases := []struct {
		name string
		b    Builtin
		want []string
	}{
		{"no name", Builtin{Units: 1}, []string{"spec.builtin.name"}},
		{"unknown name", Builtin{Name: "gpu", Units: 1}, []string{"spec.builtin.name"}},
		{"no units", Builtin{Name: BuiltinCPU}, []string{"spec.builtin.units"}},
		{"too many units", Builtin{Name: BuiltinCPU, Units: 1e9 + 1}, []string{"spec.builtin.units"}},
		{"negative unit_ms", Builtin{Name: BuiltinSleep, Units: 1, UnitMS: -1}, []string{"spec.builtin.unit_ms"}},
		{"unit_ms over a minute", Builtin{Name: BuiltinSleep, Units: 1, UnitMS: 60001}, []string{"spec.builtin.unit_ms"}},
		{"checkpoint past the end", Builtin{Name: BuiltinCPU, Units: 10, CheckpointEvery: 11}, []string{"spec.builtin.checkpoint_every"}},
		{"negative checkpoint_every", Builtin{Name: BuiltinCPU, Units: 10, CheckpointEvery: -1}, []string{"spec.builtin.checkpoint_every"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Spec{Kind: KindBuiltin, Builtin: &c.b}
			if diff := cmp.Diff(c.want, fields(s.Validate())); diff != "" {
				t.Errorf("fields named (-want +got):\n%s", diff)
			}
		})
	}
	s := Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinCPU, Units: 1}, Exec: &Exec{Command: "/bin/true"}}
	if diff := cmp.Diff([]string{"spec.exec"}, fields(s.Validate())); diff != "" {
		t.Errorf("builtin with exec (-want +got):\n%s", diff)
	}
	s = Spec{Kind: KindBuiltin}
	if diff := cmp.Diff([]string{"spec.builtin"}, fields(s.Validate())); diff != "" {
		t.Errorf("builtin without builtin (-want +got):\n%s", diff)
	}
}

func TestValidateReportsAtMostMaxProblems(t *testing.T) {
	s := execSpec()
	s.Exec.Env = map[string]string{}
	for i := range 40 {
		s.Exec.Env[fmt.Sprintf("TETHER_%02d", i)] = ""
	}
	got := fields(s.Validate())
	if len(got) != maxProblems+1 || got[maxProblems] != "…" {
		t.Fatalf("fields: %q, want %d and a count of the rest", got, maxProblems)
	}
}

func TestValidateMessagesMessage(t *testing.T) {
	s := builtinSpec()
	s.Builtin.Units = 0
	want := "spec.builtin.units: is 0: want 1 to 1000000000"
	if err := s.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate: %v, want %q", err, want)
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   Spec
		want Spec
	}{
		{"builtin", Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinCPU, Units: 3000}},
			Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinCPU, Units: 3000, UnitMS: 10, CheckpointEvery: 300},
				Class: "cpu", Timeout: Duration(time.Hour), Constraints: Constraints{Tier: TierAny}}},
		{"few units checkpoint every one", Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinSleep, Units: 7}},
			Spec{Kind: KindBuiltin, Builtin: &Builtin{Name: BuiltinSleep, Units: 7, UnitMS: 10, CheckpointEvery: 1},
				Class: "sleep", Timeout: Duration(time.Hour), Constraints: Constraints{Tier: TierAny}}},
		{"exec", Spec{Kind: KindExec, Exec: &Exec{Command: "/usr/local/bin/resize"}},
			Spec{Kind: KindExec, Exec: &Exec{Command: "/usr/local/bin/resize"},
				Class: "resize", Timeout: Duration(time.Hour), Constraints: Constraints{Tier: TierAny}}},
		{"set fields are kept", Spec{Kind: KindExec, Exec: &Exec{Command: "/usr/local/bin/resize"}, Class: "thumbnails",
			Timeout: Duration(time.Minute), Constraints: Constraints{Tier: TierCloud}},
			Spec{Kind: KindExec, Exec: &Exec{Command: "/usr/local/bin/resize"}, Class: "thumbnails",
				Timeout: Duration(time.Minute), Constraints: Constraints{Tier: TierCloud}}},
		{"no sub-struct", Spec{Kind: KindExec},
			Spec{Kind: KindExec, Timeout: Duration(time.Hour), Constraints: Constraints{Tier: TierAny}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in
			got.Defaults()
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Defaults (-want +got):\n%s", diff)
			}
			again := got
			again.Defaults()
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("Defaults is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestTail(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte("done\n"), "done\n"},
		{"long keeps the end", []byte(strings.Repeat("a", MaxTail) + "end"), strings.Repeat("a", MaxTail-3) + "end"},
		{"cut inside a rune", append([]byte("é"), []byte(strings.Repeat("b", MaxTail-1))...), strings.Repeat("b", MaxTail-1)},
		{"invalid bytes", []byte("a\xffb"), "a\uFFFDb"},
		{"invalid bytes at the limit", []byte(strings.Repeat("\xff", MaxTail+10)), "\uFFFD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Tail(c.in)
			if got != c.want {
				t.Errorf("Tail = %q…, want %q…", truncate(got, 20), truncate(c.want, 20))
			}
			if len(got) > MaxTail {
				t.Errorf("Tail is %d bytes", len(got))
			}
		})
	}
}

func nan() float64 { return math.NaN() }
