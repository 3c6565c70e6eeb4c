package task

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tether-edge/tether/pkg/protocol"
)

// MaxMessage bounds every task message and spec: a spec with its env and
// args, a signed assignment with a checkpoint, or an event with a
// checkpoint and output tails. Task events are the one kind of agent
// message allowed past protocol.MaxMessage.
const MaxMessage = 256 << 10

// decodeJSON parses one JSON value into v. strict refuses fields v does
// not have (see the package doc for which messages are strict).
func decodeJSON(data []byte, strict bool, v any) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("%w: %d bytes, limit %d", protocol.ErrTooLarge, len(data), MaxMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return protocol.Syntax(err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", protocol.ErrSyntax)
	}
	return nil
}

// decodeStrict is decodeJSON(data, true, v) for a message with a version:
// a message of another version is refused for that, not for the fields
// this version does not know.
func decodeStrict(data []byte, v any) error {
	err := decodeJSON(data, true, v)
	if err != nil && len(data) <= MaxMessage {
		var h struct {
			V *int `json:"v"`
		}
		if json.Unmarshal(data, &h) == nil && h.V != nil && *h.V != Version {
			return checkVersion(*h.V)
		}
	}
	return err
}
