package task

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxSpec bounds a spec's JSON encoding. With a checkpoint of MaxCheckpoint
// (base64) beside it, a signed assignment — base64 again inside its
// envelope — stays below MaxMessage: (64 + 88) KiB × 4/3 ≈ 203 KiB.
const MaxSpec = 64 << 10

// Defaults of a Spec, filled by Defaults.
const (
	DefaultTimeout = Duration(time.Hour)
	DefaultUnitMS  = 10
)

// Limits on a spec's fields. Each is far above real use and keeps one task
// from costing the scheduler or an agent much memory, or its numbers from
// overflowing where they are multiplied.
const (
	maxPath      = 4096     // PATH_MAX
	maxArgs      = 64       // arguments after the command
	maxEnv       = 64       // environment variables
	maxArg       = 4096     // one argument, or one variable's value
	maxEnvKey    = 256      // one variable's name
	maxExecBytes = 32 << 10 // all arguments and variables together
	maxLabels    = 64
	maxLabel     = 256 // a label's value
	maxClass     = 256
	maxCPUMillis = 4096 * 1000 // every core of the largest node a birth may describe
	maxMemMB     = 16 << 20    // 16 TiB
	maxWork      = 1e9         // reference core-seconds: 31 years
	maxBytes     = 1 << 50     // 1 PiB of input or output
	maxDeadline  = Duration(366 * 24 * time.Hour)
	minTimeout   = Duration(time.Second)
	maxTimeout   = Duration(7 * 24 * time.Hour)
	maxRetries   = 100
	maxPriority  = 1_000_000 // × the priority policy's aging (10 s) stays far inside int64 ns
	maxUnits     = 1e9
	maxUnitMS    = 60_000
)

// envPrefix starts the variables the agent sets for a task (docs/tasks.md,
// "Checkpoints of exec tasks"); a spec may not set them.
const envPrefix = "TETHER_"

// Defaults fills the fields left at their zero value with their defaults:
// Timeout 1h; a builtin's UnitMS 10 and CheckpointEvery max(1, Units/10);
// Constraints.Tier any; Class the builtin's name or the base name of the
// exec command. It leaves ID empty: the scheduler generates one.
func (s *Spec) Defaults() {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Constraints.Tier == "" {
		s.Constraints.Tier = TierAny
	}
	if b := s.Builtin; b != nil {
		if b.UnitMS == 0 {
			b.UnitMS = DefaultUnitMS
		}
		if b.CheckpointEvery == 0 {
			b.CheckpointEvery = max(1, b.Units/10)
		}
	}
	if s.Class == "" {
		switch {
		case s.Kind == KindBuiltin && s.Builtin != nil:
			s.Class = s.Builtin.Name
		case s.Kind == KindExec && s.Exec != nil && s.Exec.Command != "":
			s.Class = truncate(path.Base(s.Exec.Command), maxClass)
		}
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Validate reports every problem of the spec, each naming its field. A
// spec before Defaults and one after both validate: zero values stand for
// the defaults.
func (s Spec) Validate() error {
	var p problems
	s.validate(&p, "spec")
	return p.err()
}

func (s *Spec) validate(p *problems, at string) {
	p.optionalID(at+".id", "id", s.ID)
	switch s.Kind {
	case KindExec:
		if s.Exec == nil {
			p.add(at+".exec", "is missing (kind is %q)", KindExec)
		}
		if s.Builtin != nil {
			p.add(at+".builtin", "must be absent for kind %q", KindExec)
		}
	case KindBuiltin:
		if s.Builtin == nil {
			p.add(at+".builtin", "is missing (kind is %q)", KindBuiltin)
		}
		if s.Exec != nil {
			p.add(at+".exec", "must be absent for kind %q", KindBuiltin)
		}
	case "":
		p.add(at+".kind", "is missing: %q or %q", KindExec, KindBuiltin)
	default:
		p.add(at+".kind", "is %s: want %q or %q", quote(s.Kind), KindExec, KindBuiltin)
	}
	if s.Exec != nil {
		s.Exec.validate(p, at+".exec")
	}
	if s.Builtin != nil {
		s.Builtin.validate(p, at+".builtin")
	}

	r := s.Resources
	if r.CPUMillis < 0 || r.CPUMillis > maxCPUMillis {
		p.add(at+".resources.cpu_millis", "is %d: want 0 to %d", r.CPUMillis, maxCPUMillis)
	}
	if r.MemMB < 0 || r.MemMB > maxMemMB {
		p.add(at+".resources.mem_mb", "is %d: want 0 to %d", r.MemMB, maxMemMB)
	}
	if !finite(s.Work) || s.Work < 0 || s.Work > maxWork {
		p.add(at+".work", "is %g: want a number from 0 to %g", s.Work, maxWork)
	}
	p.text(at+".class", s.Class, maxClass)
	if s.InputBytes < 0 || s.InputBytes > maxBytes {
		p.add(at+".input_bytes", "is %d: want 0 to %d", s.InputBytes, int64(maxBytes))
	}
	if s.OutputBytes < 0 || s.OutputBytes > maxBytes {
		p.add(at+".output_bytes", "is %d: want 0 to %d", s.OutputBytes, int64(maxBytes))
	}
	if s.InputAt != "" && s.InputAt != InputCloud {
		if err := checkID("node", s.InputAt); err != nil {
			p.add(at+".input_at", "is neither %q nor a node id: %v", InputCloud, err)
		}
	}
	s.validateData(p, at)
	if s.Deadline < 0 || s.Deadline > maxDeadline {
		p.add(at+".deadline", "is %v: want 0 (none) up to %v", s.Deadline.D(), maxDeadline.D())
	}
	if s.Priority < -maxPriority || s.Priority > maxPriority {
		p.add(at+".priority", "is %d: want %d to %d", s.Priority, -maxPriority, maxPriority)
	}
	s.Constraints.validate(p, at+".constraints")
	if s.Timeout != 0 && (s.Timeout < minTimeout || s.Timeout > maxTimeout) {
		p.add(at+".timeout", "is %v: want %v to %v (or leave it out for %v)", s.Timeout.D(), minTimeout.D(), maxTimeout.D(), DefaultTimeout.D())
	}
	if s.Retries < 0 || s.Retries > maxRetries {
		p.add(at+".retries", "is %d: want 0 to %d", s.Retries, maxRetries)
	}
	p.optionalID(at+".policy", "policy", s.Policy)

	// The encoded size is checked last, and only of a spec otherwise
	// valid: its fields' limits already bound it, except for what JSON
	// escaping adds.
	if len(p.errs) == 0 {
		if b, err := json.Marshal(s); err != nil {
			p.add(at, "cannot be encoded: %v", err)
		} else if len(b) > MaxSpec {
			p.add(at, "encodes to %d bytes of JSON, limit %d", len(b), MaxSpec)
		}
	}
}

func (e *Exec) validate(p *problems, at string) {
	switch c := e.Command; {
	case c == "":
		p.add(at+".command", "is missing: the absolute path of an allowed command")
	case !strings.HasPrefix(c, "/") || c == "/":
		p.add(at+".command", "%s is not an absolute path to a command", quote(c))
	case path.Clean(c) != c:
		// The agent's allowlist matches paths exactly.
		p.add(at+".command", "%s is not a clean path: write %s", quote(c), quote(path.Clean(c)))
	}
	p.arg(at+".command", e.Command, maxPath)
	if e.Workdir != "" {
		if !strings.HasPrefix(e.Workdir, "/") || path.Clean(e.Workdir) != e.Workdir {
			p.add(at+".workdir", "%s is not a clean absolute path", quote(e.Workdir))
		}
		p.arg(at+".workdir", e.Workdir, maxPath)
	}
	total := 0
	if len(e.Args) > maxArgs {
		p.add(at+".args", "has %d entries, limit %d", len(e.Args), maxArgs)
	}
	for i, a := range e.Args {
		p.arg(at+".args["+strconv.Itoa(i)+"]", a, maxArg)
		total += len(a)
	}
	if len(e.Env) > maxEnv {
		p.add(at+".env", "has %d entries, limit %d", len(e.Env), maxEnv)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Env)) {
		field := at + ".env[" + quote(k) + "]"
		switch {
		case !envName(k):
			p.add(field, "is not a variable name: letters, digits and '_', not starting with a digit, at most %d bytes", maxEnvKey)
		case strings.HasPrefix(k, envPrefix):
			p.add(field, "%s… variables are set by the agent", envPrefix)
		}
		p.arg(field, e.Env[k], maxArg)
		total += len(k) + len(e.Env[k])
	}
	if total > maxExecBytes {
		p.add(at, "args and env add up to %d bytes, limit %d", total, maxExecBytes)
	}
}

// envName reports whether k is a portable environment variable name.
func envName(k string) bool {
	if k == "" || len(k) > maxEnvKey || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (b *Builtin) validate(p *problems, at string) {
	switch b.Name {
	case BuiltinCPU, BuiltinSleep, BuiltinSHA256:
	case "":
		p.add(at+".name", "is missing: %q, %q or %q", BuiltinCPU, BuiltinSleep, BuiltinSHA256)
	default:
		p.add(at+".name", "is %s: want %q, %q or %q", quote(b.Name), BuiltinCPU, BuiltinSleep, BuiltinSHA256)
	}
	if b.Name == BuiltinSHA256 {
		if b.Units != 0 {
			p.add(at+".units", "is %d: the sha256 builtin's work is its inputs; leave units out", b.Units)
		}
	} else if b.Units < 1 || b.Units > maxUnits {
		p.add(at+".units", "is %d: want 1 to %d", b.Units, int64(maxUnits))
	}
	if b.UnitMS < 0 || b.UnitMS > maxUnitMS {
		p.add(at+".unit_ms", "is %d: want 1 to %d (or leave it out for %d)", b.UnitMS, maxUnitMS, DefaultUnitMS)
	}
	if b.CheckpointEvery < 0 || b.CheckpointEvery > max(b.Units, 1) {
		p.add(at+".checkpoint_every", "is %d: want 1 to units (%d), or leave it out for units/10", b.CheckpointEvery, b.Units)
	}
}

func (c *Constraints) validate(p *problems, at string) {
	switch c.Tier {
	case "", TierAny, TierEdge, TierCloud:
	default:
		p.add(at+".tier", "is %s: want %q, %q or %q", quote(c.Tier), TierAny, TierEdge, TierCloud)
	}
	if len(c.Labels) > maxLabels {
		p.add(at+".labels", "has %d entries, limit %d", len(c.Labels), maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		field := at + ".labels[" + quote(k) + "]"
		p.id(field, "label key", k)
		p.text(field, c.Labels[k], maxLabel)
	}
}
