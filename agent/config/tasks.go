package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Tasks configures the agent's task runner (agent/runner).
type Tasks struct {
	// Slots is how many tasks run at once; more wait in arrival order.
	// 0: the number of cores.
	Slots int `yaml:"slots"`
	// Allow lists the exact absolute paths of the commands exec tasks may
	// run. Empty: builtin tasks only.
	Allow []string `yaml:"allow"`
	// SchedulerKeys are the scheduler's ed25519 public keys, base64 (the
	// 32 raw bytes or the PKIX DER) or PEM ("PUBLIC KEY"). Assignments
	// signed by any other key are refused; none: every assignment is.
	SchedulerKeys []string `yaml:"scheduler_keys"`
	// CheckpointLimit is the largest checkpoint (bytes) sent with its
	// checkpoint event, so the scheduler can resume the task on another
	// node; larger ones are kept on this node only. 0: none is sent.
	CheckpointLimit int `yaml:"checkpoint_limit"`
	// OutputTail is how many trailing bytes of an exec task's stdout and
	// of its stderr (each) go into its result.
	OutputTail int `yaml:"output_tail"`
	// Workdir holds the per-attempt directories of exec tasks. Empty:
	// <data_dir>/tasks.
	Workdir string `yaml:"workdir"`
	// KillGrace is how long an exec task's processes get between SIGTERM
	// and SIGKILL when it is cancelled or times out.
	KillGrace time.Duration `yaml:"kill_grace"`
	// ProgressInterval is how often a running task's progress is reported
	// between its checkpoints (1s to 1m). The agent announces it in its
	// facts, and the scheduler ends an attempt silent for three of them
	// (at least its tasks.progress_timeout).
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// Bounds of the tasks settings. A task event carries at most one
// checkpoint or two output tails and must stay under the protocol's 256 KiB
// message limit after JSON escaping (base64 grows a checkpoint by a third,
// escaping control bytes can grow output sixfold).
const (
	MaxTaskSlots       = 256
	MaxCheckpointLimit = 64 << 10
	MaxOutputTail      = 16 << 10
)

func defaultTasks() Tasks {
	return Tasks{CheckpointLimit: 16 << 10, OutputTail: 4 << 10, KillGrace: 5 * time.Second,
		ProgressInterval: 30 * time.Second}
}

// TaskWorkdir is where exec tasks' attempt directories go.
// A relative directory is taken from the agent's working directory and
// made absolute: exec tasks run in directories below it.
func (c *Config) TaskWorkdir() string {
	dir := c.Tasks.Workdir
	if dir == "" {
		dir = filepath.Join(c.DataDir, "tasks")
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// validate adds the problems of the tasks section to add.
func (t *Tasks) validate(add func(format string, args ...any)) {
	if t.Slots < 0 || t.Slots > MaxTaskSlots {
		add("tasks.slots %d: use 0 (one per core) up to %d", t.Slots, MaxTaskSlots)
	}
	seen := map[string]bool{}
	for _, p := range t.Allow {
		switch {
		case !filepath.IsAbs(p):
			add("tasks.allow %q: give the command's absolute path, e.g. /usr/local/bin/job", p)
		case filepath.Clean(p) != p:
			add("tasks.allow %q: write it as %q (tasks must name the exact path)", p, filepath.Clean(p))
		case seen[p]:
			add("tasks.allow %q: listed twice", p)
		}
		seen[p] = true
	}
	if _, err := ParseSchedulerKeys(t.SchedulerKeys); err != nil {
		add("tasks.scheduler_keys: %v", err)
	}
	if t.CheckpointLimit < 0 || t.CheckpointLimit > MaxCheckpointLimit {
		add("tasks.checkpoint_limit %d: use 0 (checkpoints stay on the node) up to %d bytes", t.CheckpointLimit, MaxCheckpointLimit)
	}
	if t.OutputTail < 0 || t.OutputTail > MaxOutputTail {
		add("tasks.output_tail %d: use 0 up to %d bytes", t.OutputTail, MaxOutputTail)
	}
	if t.Workdir != "" && !filepath.IsAbs(t.Workdir) {
		add("tasks.workdir %q: give an absolute path, or leave it empty for <data_dir>/tasks", t.Workdir)
	}
	if t.KillGrace < 0 || t.KillGrace > 10*time.Minute {
		add("tasks.kill_grace %v: use between 0 and 10m", t.KillGrace)
	}
	if t.ProgressInterval < time.Second || t.ProgressInterval > time.Minute || t.ProgressInterval%time.Second != 0 {
		add("tasks.progress_interval %v: use whole seconds from 1s to 1m", t.ProgressInterval)
	}
}

// ParseSchedulerKeys parses the tasks.scheduler_keys values.
func ParseSchedulerKeys(keys []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	var errs []error
	for i, k := range keys {
		pub, err := ParsePublicKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i+1, err))
			continue
		}
		out = append(out, pub)
	}
	return out, errors.Join(errs...)
}

// ParsePublicKey reads an ed25519 public key written as PEM ("PUBLIC
// KEY", PKIX) or as base64 of either the 32 raw bytes or the PKIX DER.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil || strings.TrimSpace(string(rest)) != "" {
			return nil, errors.New("not one PEM block")
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q, want \"PUBLIC KEY\"", b.Type)
		}
		der = b.Bytes
	} else {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(s); err != nil {
				return nil, errors.New("neither PEM nor base64")
			}
		}
		if len(raw) == ed25519.PublicKeySize {
			return ed25519.PublicKey(raw), nil
		}
		der = raw
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not an ed25519 public key (32 bytes, or PKIX): %v", err)
	}
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 public key", pub)
	}
	return k, nil
}
