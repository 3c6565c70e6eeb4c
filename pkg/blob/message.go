package blob

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// A transfer is driven by its receiver: it asks with a Want for a range
// of a blob, the sender answers with Chunks of that range, or with one
// Missing when it does not hold the blob. A holder that wants a peer to
// take a blob (an operator's upload) sends an Offer; the peer fetches it
// and answers Have once it holds it, or Missing when it will not take it.
// A fetcher may also send Have once it installed a blob it fetched
// (EndpointOptions.Confirm), so that the sender can time the transfer;
// a sender that does not track it drops it.
// Every message is one binary frame (no base64: a chunk costs its bytes
// plus a 50-byte header):
//
//	offset  size  field
//	0       1     version (1)
//	1       1     type: 1 want, 2 chunk, 3 missing, 4 offer, 5 have
//	2       32    the blob's SHA-256
//	34      8     the blob's size, big endian
//	42      8     offset in the blob, big endian (0 in a missing, offer, have)
//	50      8     want: length of the range asked for, big endian
//	50      …     chunk: the bytes at offset; missing: the reason, UTF-8
const (
	Version   = 1
	headerLen = 50
	wantLen   = headerLen + 8

	// MaxChunk is the most data one chunk carries: 128 KiB keeps a
	// chunk frame well inside the 256 KiB a node may publish
	// (task.MaxMessage; the embedded broker allows 260 KiB per packet).
	MaxChunk = 128 << 10
	// MaxWant bounds the range of one want, so a receiver's window is
	// bounded on the sender too.
	MaxWant = 64 << 20
	// MaxReason bounds the reason of a missing.
	MaxReason = 256
	// MaxFrame is the largest frame: a full chunk.
	MaxFrame = headerLen + MaxChunk
)

// Type is a message's type.
type Type uint8

const (
	TypeWant    Type = 1
	TypeChunk   Type = 2
	TypeMissing Type = 3
	TypeOffer   Type = 4
	TypeHave    Type = 5
)

func (t Type) String() string {
	switch t {
	case TypeWant:
		return "want"
	case TypeChunk:
		return "chunk"
	case TypeMissing:
		return "missing"
	case TypeOffer:
		return "offer"
	case TypeHave:
		return "have"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one transfer frame, decoded.
type Message struct {
	Type   Type
	ID     ID
	Offset int64
	Length int64  // want: bytes asked for from Offset (the sender clips it at the blob's end)
	Data   []byte // chunk: 1 to MaxChunk bytes at Offset
	Reason string // missing: why the sender cannot send (or will not take) the blob
}

// ErrMessage is wrapped by every Decode failure.
var ErrMessage = errors.New("bad blob message")

// Validate checks m's fields against the limits above.
func (m *Message) Validate() error {
	if err := m.ID.Validate(); err != nil {
		return err
	}
	if m.Offset < 0 || m.Offset > m.ID.Size {
		return fmt.Errorf("offset %d is outside the blob's %d bytes", m.Offset, m.ID.Size)
	}
	switch m.Type {
	case TypeWant:
		if m.Offset >= m.ID.Size {
			return fmt.Errorf("want at offset %d of a %d-byte blob asks for nothing", m.Offset, m.ID.Size)
		}
		if m.Length < 1 || m.Length > MaxWant {
			return fmt.Errorf("want length %d is outside 1 to %d", m.Length, MaxWant)
		}
	case TypeChunk:
		if len(m.Data) < 1 || len(m.Data) > MaxChunk {
			return fmt.Errorf("chunk of %d bytes is outside 1 to %d", len(m.Data), MaxChunk)
		}
		if int64(len(m.Data)) > m.ID.Size-m.Offset {
			return fmt.Errorf("chunk of %d bytes at %d runs past the blob's %d bytes", len(m.Data), m.Offset, m.ID.Size)
		}
	case TypeMissing:
		if m.Offset != 0 {
			return fmt.Errorf("missing has offset %d, want 0", m.Offset)
		}
		if len(m.Reason) > MaxReason || !utf8.ValidString(m.Reason) {
			return fmt.Errorf("missing's reason is not UTF-8 of at most %d bytes", MaxReason)
		}
	case TypeOffer, TypeHave:
		if m.Offset != 0 {
			return fmt.Errorf("%v has offset %d, want 0", m.Type, m.Offset)
		}
	default:
		return fmt.Errorf("unknown message type %d", uint8(m.Type))
	}
	return nil
}

// Encode returns m's frame after validating it.
func (m *Message) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	n := headerLen
	switch m.Type {
	case TypeWant:
		n = wantLen
	case TypeChunk:
		n += len(m.Data)
	case TypeMissing:
		n += len(m.Reason)
	}
	b := make([]byte, headerLen, n)
	b[0], b[1] = Version, byte(m.Type)
	copy(b[2:34], m.ID.Sum[:])
	binary.BigEndian.PutUint64(b[34:42], uint64(m.ID.Size))
	binary.BigEndian.PutUint64(b[42:50], uint64(m.Offset))
	switch m.Type {
	case TypeWant:
		b = binary.BigEndian.AppendUint64(b, uint64(m.Length))
	case TypeChunk:
		b = append(b, m.Data...)
	case TypeMissing:
		b = append(b, m.Reason...)
	}
	return b, nil
}

// Decode parses and validates a frame. A chunk's Data aliases b.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxFrame {
		return Message{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMessage, len(b), MaxFrame)
	}
	if len(b) < headerLen {
		return Message{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMessage, len(b), headerLen)
	}
	if b[0] != Version {
		return Message{}, fmt.Errorf("%w: version %d, want %d", ErrMessage, b[0], Version)
	}
	m := Message{Type: Type(b[1])}
	copy(m.ID.Sum[:], b[2:34])
	size, off := binary.BigEndian.Uint64(b[34:42]), binary.BigEndian.Uint64(b[42:50])
	if size > MaxSize || off > MaxSize {
		return Message{}, fmt.Errorf("%w: size %d or offset %d past %d", ErrMessage, size, off, int64(MaxSize))
	}
	m.ID.Size, m.Offset = int64(size), int64(off)
	body := b[headerLen:]
	switch m.Type {
	case TypeWant:
		if len(body) != 8 {
			return Message{}, fmt.Errorf("%w: want of %d bytes, want %d", ErrMessage, len(b), wantLen)
		}
		l := binary.BigEndian.Uint64(body)
		if l > MaxWant {
			return Message{}, fmt.Errorf("%w: want length %d past %d", ErrMessage, l, MaxWant)
		}
		m.Length = int64(l)
	case TypeChunk:
		m.Data = body
	case TypeMissing:
		m.Reason = string(body)
	case TypeOffer, TypeHave:
		if len(body) != 0 {
			return Message{}, fmt.Errorf("%w: %v of %d bytes, want %d", ErrMessage, m.Type, len(b), headerLen)
		}
	}
	if err := m.Validate(); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMessage, err)
	}
	return m, nil
}
