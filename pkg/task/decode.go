package task

import "github.com/tether-edge/tether/pkg/protocol"

// Version of the task messages; it follows the protocol's.
const Version = protocol.Version

// DecodeAssignment decodes and validates an assignment body.
// TODO(validation): full validation lands with the spec decoder.
func DecodeAssignment(body []byte) (Assignment, error) {
	var a Assignment
	err := decodeJSON(body, &a)
	return a, err
}
