package task

import (
	"fmt"
	"time"
)

// Kinds of task.
const (
	KindExec    = "exec"    // a command on the agent's allowlist
	KindBuiltin = "builtin" // a deterministic synthetic workload
)

// Builtin workloads.
const (
	BuiltinCPU   = "cpu"   // burns Units work units, checkpointing its progress
	BuiltinSleep = "sleep" // sleeps Units × UnitMS milliseconds, checkpointing too
	// BuiltinSHA256 hashes its inputs: its output is sha256sum's listing
	// of them (SHA256Output), and Result.Output the digest of the first.
	BuiltinSHA256 = "sha256"
)

// SHA256Output is the sha256 builtin's one output.
const SHA256Output = "sha256"

// Tiers a task may be constrained to.
const (
	TierAny   = "any"
	TierEdge  = "edge"
	TierCloud = "cloud"
)

// InputCloud is Spec.InputAt for input that lives in the cloud tier.
const InputCloud = "cloud"

// Spec is a task as submitted. The zero value of every optional field means
// "the default" (see Defaults); Validate says what is wrong in words a
// submitter can act on.
type Spec struct {
	// ID is the submitter's idempotency key: submitting the same ID twice
	// creates one task. Empty: the scheduler generates a ULID.
	ID string `json:"id,omitempty" yaml:"id,omitempty"`
	// Kind is KindExec or KindBuiltin; exactly the matching one of Exec and
	// Builtin is set.
	Kind    string   `json:"kind" yaml:"kind"`
	Exec    *Exec    `json:"exec,omitempty" yaml:"exec,omitempty"`
	Builtin *Builtin `json:"builtin,omitempty" yaml:"builtin,omitempty"`

	Resources Resources `json:"resources,omitzero" yaml:"resources,omitempty"`
	// Work estimates the task's size in work units: one unit is a second
	// of one reference core (a Pi 4 core). Placement divides it by a node's
	// learned speed; 0 means unknown (the scheduler uses the class mean).
	Work float64 `json:"work,omitempty" yaml:"work,omitempty"`
	// Class groups tasks whose speed per node is learned together;
	// default: the builtin's name or the exec command's base name.
	Class string `json:"class,omitempty" yaml:"class,omitempty"`

	InputBytes  int64 `json:"input_bytes,omitempty" yaml:"input_bytes,omitempty"`
	OutputBytes int64 `json:"output_bytes,omitempty" yaml:"output_bytes,omitempty"`
	// InputAt is where the input lives: a node id, InputCloud, or empty
	// (at the scheduler's site, no transfer cost).
	InputAt string `json:"input_at,omitempty" yaml:"input_at,omitempty"`

	// Inputs are the task's input blobs by name (data.go): the agent
	// puts each in the attempt's directory before the task starts.
	// Outputs name the files the task leaves, stored as blobs when it
	// succeeds and listed in its result.
	Inputs  map[string]Input `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	Outputs []string         `json:"outputs,omitempty" yaml:"outputs,omitempty"`

	// Deadline is how long after submission the task should be done; 0:
	// none. Priority orders tasks (higher first) for policies that use it.
	Deadline Duration `json:"deadline,omitempty" yaml:"deadline,omitempty"`
	Priority int      `json:"priority,omitempty" yaml:"priority,omitempty"`

	Constraints Constraints `json:"constraints,omitzero" yaml:"constraints,omitempty"`

	// Timeout bounds one attempt's run time on a node (default 1h).
	// Retries is how many more attempts a failed or timed-out task gets
	// (default 0; lost nodes do not use up retries).
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Retries int      `json:"retries,omitempty" yaml:"retries,omitempty"`
	// Checkpointable says the task saves progress and can resume from it,
	// after a restart of its agent or on another node.
	Checkpointable bool `json:"checkpointable,omitempty" yaml:"checkpointable,omitempty"`

	// Policy names the placement policy for this task; empty: the
	// scheduler's.
	Policy string `json:"policy,omitempty" yaml:"policy,omitempty"`
}

// Exec is a command to run. Command must be on the agent's allowlist
// (exact path match); the agent refuses anything else.
type Exec struct {
	Command string            `json:"command" yaml:"command"`
	Args    []string          `json:"args,omitempty" yaml:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	Workdir string            `json:"workdir,omitempty" yaml:"workdir,omitempty"`
}

// Builtin is a synthetic workload. Its result is deterministic in its
// parameters, however often it was interrupted and resumed, so tests can
// check a resumed task computed the right thing.
type Builtin struct {
	Name string `json:"name" yaml:"name"` // BuiltinCPU, BuiltinSleep or BuiltinSHA256
	// Units of work to do. For cpu a unit is a fixed amount of hashing
	// (about UnitMS on a reference core); for sleep it is UnitMS of sleep.
	Units int64 `json:"units,omitempty" yaml:"units,omitempty"`
	// UnitMS is the length of one unit in milliseconds (default 10).
	UnitMS int64 `json:"unit_ms,omitempty" yaml:"unit_ms,omitempty"`
	// CheckpointEvery is how many units pass between checkpoints (default
	// Units/10, at least 1); used when the task is Checkpointable.
	CheckpointEvery int64 `json:"checkpoint_every,omitempty" yaml:"checkpoint_every,omitempty"`
}

// Resources a task asks for on a node.
type Resources struct {
	CPUMillis int64 `json:"cpu_millis,omitempty" yaml:"cpu_millis,omitempty"`
	MemMB     int64 `json:"mem_mb,omitempty" yaml:"mem_mb,omitempty"`
}

// Constraints restrict where a task may run.
type Constraints struct {
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"` // all must match the node's
	Tier   string            `json:"tier,omitempty" yaml:"tier,omitempty"`     // TierAny (default), TierEdge, TierCloud
}

// Duration is a time.Duration written as Go duration text ("90s", "5m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes d as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%s is not a duration: write a number with a unit, such as \"90s\", \"5m\" or \"1h30m\"", quote(string(b)))
	}
	*d = Duration(v)
	return nil
}
