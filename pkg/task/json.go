package task

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tether-edge/tether/pkg/protocol"
)

// MaxMessage bounds every task message: a spec with its env and args, or
// an event with a small checkpoint and output tails.
const MaxMessage = 256 << 10

func decodeJSON(data []byte, v any) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("%w: %d bytes, limit %d", protocol.ErrTooLarge, len(data), MaxMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", protocol.ErrSyntax, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", protocol.ErrSyntax)
	}
	return nil
}
