package enrol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/tether-edge/tether/pkg/atomicfile"
)

// State is the enrolment file's content: the tokens, the requests waiting
// for an operator, and the nodes an operator approved or revoked.
type State struct {
	V       int           `json:"v"`
	Tokens  []Token       `json:"tokens"`
	Pending []PendingNode `json:"pending,omitempty"`
	// Approved nodes enrol at their next request whatever the token's
	// policy (a wrong or revoked token is still refused).
	Approved []string `json:"approved,omitempty"`
	// Revoked nodes pend at every request until approved again.
	Revoked []string `json:"revoked,omitempty"`
}

// PendingNode is a request waiting for nodes approve.
type PendingNode struct {
	Node   string    `json:"node"`
	Token  string    `json:"token"` // the token's id
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

const stateVersion = 1

// Token returns the token with id, or nil.
func (s *State) Token(id string) *Token {
	for i := range s.Tokens {
		if s.Tokens[i].ID == id {
			return &s.Tokens[i]
		}
	}
	return nil
}

// Has reports whether list holds node.
func Has(list []string, node string) bool { return slices.Contains(list, node) }

// SetPending records or refreshes node's pending request.
func (s *State) SetPending(p PendingNode) {
	for i := range s.Pending {
		if s.Pending[i].Node == p.Node {
			p.Since = s.Pending[i].Since
			s.Pending[i] = p
			return
		}
	}
	s.Pending = append(s.Pending, p)
}

// Approve lets node enrol at its next request and lifts its revocation.
func (s *State) Approve(node string) {
	s.Revoked = slices.DeleteFunc(s.Revoked, func(n string) bool { return n == node })
	if !Has(s.Approved, node) {
		s.Approved = append(s.Approved, node)
	}
}

// Revoke marks node revoked and forgets any approval or pending request.
func (s *State) Revoke(node string) {
	s.Approved = slices.DeleteFunc(s.Approved, func(n string) bool { return n == node })
	s.Pending = slices.DeleteFunc(s.Pending, func(p PendingNode) bool { return p.Node == node })
	if !Has(s.Revoked, node) {
		s.Revoked = append(s.Revoked, node)
	}
}

// Enrolled forgets node's approval and pending request once its
// credentials are written.
func (s *State) Enrolled(node string) {
	s.Approved = slices.DeleteFunc(s.Approved, func(n string) bool { return n == node })
	s.Pending = slices.DeleteFunc(s.Pending, func(p PendingNode) bool { return p.Node == node })
}

// Load reads the enrolment file; a missing file is an empty state.
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{V: stateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enrolment file: %w", err)
	}
	return decodeState(path, b)
}

func decodeState(path string, b []byte) (*State, error) {
	s := &State{}
	if len(b) == 0 {
		s.V = stateVersion
		return s, nil
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("enrolment file %s: %w", path, err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("enrolment file %s: version %d, want %d", path, s.V, stateVersion)
	}
	return s, nil
}

// Update runs change on the enrolment file's state under an exclusive
// flock of its directory (the file is replaced by a rename, so its inode
// cannot be the lock) and replaces the file atomically (temporary file,
// fsync, rename, directory fsync; mode 0600 when new, kept otherwise) if
// change returns nil. Concurrent Updates, in this process or others, lose
// nothing.
func Update(path string, change func(*State) error) error {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("enrolment file: %w", err)
	}
	defer d.Close() // drops the lock
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("enrolment file: lock %s: %w", dir, err)
	}
	s, err := Load(path)
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	s.V = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("enrolment file: %w", err)
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, bytes.NewReader(data), atomicfile.Options{}); err != nil {
		return fmt.Errorf("enrolment file: %w", err)
	}
	return nil
}
