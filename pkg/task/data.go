package task

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tether-edge/tether/pkg/blob"
)

// A task's data are blobs (pkg/blob) named by the spec: each input has a
// name, the blob's id and where the blob is held; each output a name. The
// agent puts inputs in the attempt's directory before the task starts and
// stores the outputs as blobs when it succeeds (docs/tasks.md, Task data).

// Limits of a task's data.
const (
	MaxInputs  = 16
	MaxOutputs = 16
	maxDataKey = 64
)

// FromNodePrefix starts Input.From for a blob held on a node: node/<id>.
const FromNodePrefix = "node/"

// Input is one named input of a task.
type Input struct {
	// Blob is the input's id: its SHA-256 and size.
	Blob blob.ID `json:"blob" yaml:"blob"`
	// From says where the blob is held: empty, the scheduler (its
	// blobs.dir); node/<id>, on that node (data produced at the edge),
	// from where the scheduler fetches it when the task runs elsewhere.
	From string `json:"from,omitempty" yaml:"from,omitempty"`
}

// FromNode returns the node that holds the input, or "" when the
// scheduler does.
func (in Input) FromNode() string { return strings.TrimPrefix(in.From, FromNodePrefix) }

// DataName reports whether s may name an input or output: 1 to 64 of
// [a-z0-9_], starting with a letter. Such a name is also a file name and,
// upper-cased, the end of an environment variable's name
// (TETHER_INPUT_<NAME>).
func DataName(s string) bool {
	if s == "" || len(s) > maxDataKey || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// InputBytesTotal returns the sum of the inputs' sizes.
func (s *Spec) InputBytesTotal() int64 {
	var n int64
	for _, in := range s.Inputs {
		n += in.Blob.Size
	}
	return n
}

func (s *Spec) validateData(p *problems, at string) {
	if len(s.Inputs) > MaxInputs {
		p.add(at+".inputs", "has %d entries, limit %d", len(s.Inputs), MaxInputs)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Inputs)) {
		field := at + ".inputs[" + quote(k) + "]"
		in := s.Inputs[k]
		if !DataName(k) {
			p.add(field, "is not a data name: 1 to %d of a-z, 0-9 and '_', starting with a letter", maxDataKey)
		}
		if in.Blob.IsZero() {
			p.add(field+".blob", "is missing: the input's id, sha256:<hex>:<size>")
		} else if err := in.Blob.Validate(); err != nil {
			p.add(field+".blob", "%v", err)
		}
		if in.From != "" {
			node, ok := strings.CutPrefix(in.From, FromNodePrefix)
			if !ok {
				p.add(field+".from", "is %s: want node/<id>, or leave it out for the scheduler", quote(in.From))
			} else if err := checkID("node", node); err != nil {
				p.add(field+".from", "%v", err)
			}
		}
	}
	if len(s.Outputs) > MaxOutputs {
		p.add(at+".outputs", "has %d entries, limit %d", len(s.Outputs), MaxOutputs)
	}
	for i, o := range s.Outputs {
		field := fmt.Sprintf("%s.outputs[%d]", at, i)
		if !DataName(o) {
			p.add(field, "%s is not a data name: 1 to %d of a-z, 0-9 and '_', starting with a letter", quote(o), maxDataKey)
		}
		if slices.Contains(s.Outputs[:i], o) {
			p.add(field, "%s is named twice", quote(o))
		}
	}
	if s.Builtin != nil && s.Builtin.Name == BuiltinSHA256 {
		if len(s.Inputs) == 0 {
			p.add(at+".inputs", "is empty: the sha256 builtin hashes its inputs")
		}
		for i, o := range s.Outputs {
			if o != SHA256Output {
				p.add(fmt.Sprintf("%s.outputs[%d]", at, i), "is %s: the sha256 builtin has one output, %q", quote(o), SHA256Output)
			}
		}
	}
}
