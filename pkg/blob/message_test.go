package blob

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMessagesRoundTrip(t *testing.T) {
	id := Of(randomBytes(11, 300_000))
	for _, m := range []Message{
		{Type: TypeWant, ID: id, Offset: 0, Length: MaxWant},
		{Type: TypeWant, ID: id, Offset: id.Size - 1, Length: 1},
		{Type: TypeChunk, ID: id, Offset: 2 * MaxChunk, Data: randomBytes(12, int(id.Size-2*MaxChunk))},
		{Type: TypeChunk, ID: id, Offset: 0, Data: randomBytes(13, MaxChunk)},
		{Type: TypeMissing, ID: id, Reason: "not held by this node"},
		{Type: TypeMissing, ID: Of(nil)},
		{Type: TypeOffer, ID: id},
		{Type: TypeHave, ID: id},
	} {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Fatalf("%s round trip (-want +got):\n%s", m.Type, diff)
		}
	}
}

func TestDecodeRefusesBadFrames(t *testing.T) {
	id := Of([]byte("hello"))
	want, _ := (&Message{Type: TypeWant, ID: id, Length: 5}).Encode()
	chunk, _ := (&Message{Type: TypeChunk, ID: id, Offset: 1, Data: []byte("ello")}).Encode()
	offer, _ := (&Message{Type: TypeOffer, ID: id}).Encode()
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	for name, c := range map[string]struct {
		frame []byte
		says  string
	}{
		"short":              {want[:49], "shorter than"},
		"version 2":          {set(want, 0, 2), "version 2"},
		"unknown type":       {set(want, 1, 9), "unknown message type 9"},
		"want without len":   {want[:50], "want of 50 bytes"},
		"want of nothing":    {set(want, 57, 0), "want length 0"},
		"chunk past the end": {append(bytes.Clone(chunk), 'x'), "runs past"},
		"empty chunk":        {chunk[:50], "chunk of 0 bytes"},
		"huge size":          {set(want, 34, 0xff), "past"},
		"too large":          {make([]byte, MaxFrame+1), "more than"},
		"offer with a body":  {append(bytes.Clone(offer), 'x'), "offer of 51 bytes"},
		"have at an offset":  {set(set(offer, 1, byte(TypeHave)), 49, 1), "have has offset 1"},
	} {
		_, err := Decode(c.frame)
		if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an ErrMessage saying %q", name, err, c.says)
		}
	}
}

func TestIDText(t *testing.T) {
	id := Of([]byte("tether"))
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("parse %s: %v %v", id, got, err)
	}
	for _, bad := range []string{
		"", "sha1:00:1", strings.Replace(id.String(), "sha256:", "sha256:A", 1)[:71] + ":6",
		strings.ToUpper(id.String()), id.String()[:len(id.String())-2] + ":06", id.String()[:len(id.String())-2] + ":-6",
		id.String()[:len(id.String())-2] + ":4294967296",
	} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) = %v, want ErrBadID", bad, err)
		}
	}
}

// FuzzDecode: Decode never panics, and what it accepts re-encodes to the
// same frame and decodes again to the same message.
func FuzzDecode(f *testing.F) {
	id := Of([]byte("hello"))
	for _, m := range []Message{
		{Type: TypeWant, ID: id, Length: 5},
		{Type: TypeChunk, ID: id, Offset: 1, Data: []byte("ello")},
		{Type: TypeMissing, ID: id, Reason: "gone"},
		{Type: TypeOffer, ID: id},
		{Type: TypeHave, ID: id},
	} {
		b, _ := m.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted %x does not re-encode: %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
		m2, err := Decode(again)
		if err != nil || !cmp.Equal(m, m2) {
			t.Fatalf("second decode: %v %v", m2, err)
		}
	})
}

// FuzzParseID: ParseID accepts exactly the text String writes.
func FuzzParseID(f *testing.F) {
	f.Add(Of([]byte("x")).String())
	f.Add("sha256:00:0")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
	})
}
