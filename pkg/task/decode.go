package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Version of the task messages; it follows the protocol's.
const Version = protocol.Version

// DecodeSpecJSON parses and validates a spec written in JSON. Unknown
// fields are errors. Defaults are not filled in.
func DecodeSpecJSON(data []byte) (Spec, error) {
	s, err := ParseSpecJSON(data)
	if err != nil {
		return Spec{}, err
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// DecodeSpecYAML parses and validates a spec written in YAML: one
// document, with the field names of the JSON form. Unknown fields are
// errors. Defaults are not filled in.
func DecodeSpecYAML(data []byte) (Spec, error) {
	s, err := ParseSpecYAML(data)
	if err != nil {
		return Spec{}, err
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// ParseSpecJSON is DecodeSpecJSON without Validate, for a caller that
// completes the spec first (the CLI adds uploaded inputs) and validates it
// then.
func ParseSpecJSON(data []byte) (Spec, error) {
	var s Spec
	if err := decodeJSON(data, true, &s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// ParseSpecYAML is DecodeSpecYAML without Validate (see ParseSpecJSON).
func ParseSpecYAML(data []byte) (Spec, error) {
	if len(data) > MaxMessage {
		return Spec{}, fmt.Errorf("%w: %d bytes, limit %d", protocol.ErrTooLarge, len(data), MaxMessage)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return Spec{}, yamlError{errors.New("no document")}
		}
		return Spec{}, yamlError{err}
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		return Spec{}, yamlError{errors.New("more than one document")}
	case !errors.Is(err, io.EOF):
		return Spec{}, yamlError{err}
	}
	return s, nil
}

// yamlError is protocol.ErrSyntax for YAML.
type yamlError struct{ err error }

func (e yamlError) Error() string        { return "malformed YAML: " + e.err.Error() }
func (e yamlError) Is(target error) bool { return target == protocol.ErrSyntax }

// DecodeSubmitRequest parses and validates a submit request. Unknown
// fields are errors.
func DecodeSubmitRequest(data []byte) (SubmitRequest, error) {
	var m SubmitRequest
	if err := decodeStrict(data, &m); err != nil {
		return SubmitRequest{}, err
	}
	if err := m.Validate(); err != nil {
		return SubmitRequest{}, err
	}
	return m, nil
}

// DecodeControlRequest parses and validates a control request. Unknown
// fields are errors.
func DecodeControlRequest(data []byte) (ControlRequest, error) {
	var m ControlRequest
	if err := decodeStrict(data, &m); err != nil {
		return ControlRequest{}, err
	}
	if err := m.Validate(); err != nil {
		return ControlRequest{}, err
	}
	return m, nil
}

// DecodeReply parses and validates a reply. Unknown fields are ignored.
func DecodeReply(data []byte) (Reply, error) {
	var m Reply
	if err := decodeJSON(data, false, &m); err != nil {
		return Reply{}, err
	}
	if err := m.Validate(); err != nil {
		return Reply{}, err
	}
	return m, nil
}

// DecodeQuarantineList parses and validates the retained list of nodes
// in quarantine. Unknown fields are ignored.
func DecodeQuarantineList(data []byte) (QuarantineList, error) {
	var m QuarantineList
	if err := decodeJSON(data, false, &m); err != nil {
		return QuarantineList{}, err
	}
	if err := m.Validate(); err != nil {
		return QuarantineList{}, err
	}
	return m, nil
}

// DecodeStatus parses and validates a task's retained status. Unknown
// fields are ignored. An empty payload (a cleared retained message) is
// ErrSyntax: the task's status was removed.
func DecodeStatus(data []byte) (Status, error) {
	var m Status
	if err := decodeJSON(data, false, &m); err != nil {
		return Status{}, err
	}
	if err := m.Validate(); err != nil {
		return Status{}, err
	}
	return m, nil
}

// DecodeEnvelope parses an envelope and checks its shape; Verify checks
// its signature and decodes the assignment inside. Unknown fields are
// errors.
func DecodeEnvelope(data []byte) (Envelope, error) {
	var m Envelope
	if err := decodeStrict(data, &m); err != nil {
		return Envelope{}, err
	}
	if err := m.Validate(); err != nil {
		return Envelope{}, err
	}
	return m, nil
}

// DecodeAssignment parses and validates an assignment body. Unknown fields
// are errors: an agent refuses what it does not fully understand. Verify
// calls it once the signature over body checks; nothing else should act on
// an assignment.
func DecodeAssignment(body []byte) (Assignment, error) {
	var a Assignment
	if err := decodeStrict(body, &a); err != nil {
		return Assignment{}, err
	}
	if err := a.Validate(); err != nil {
		return Assignment{}, err
	}
	return a, nil
}

// DecodeEvent parses and validates an agent's task event. Unknown fields
// are ignored.
func DecodeEvent(data []byte) (Event, error) {
	var m Event
	if err := decodeJSON(data, false, &m); err != nil {
		return Event{}, err
	}
	if err := m.Validate(); err != nil {
		return Event{}, err
	}
	return m, nil
}
