package serve

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/tether-edge/tether/pkg/blob"
)

func testBlobID(n int, b byte) blob.ID {
	return blob.ID{Sum: sha256.Sum256([]byte{b, byte(n)}), Size: int64(n)}
}

func TestSharesBoundEachNode(t *testing.T) {
	t.Parallel()
	s := newShares(100)
	a1, a2, a3, b1 := testBlobID(60, 1), testBlobID(40, 2), testBlobID(1, 3), testBlobID(100, 4)
	for _, c := range []struct {
		node string
		id   blob.ID
		ok   bool
	}{
		{"a", a1, true}, {"a", a2, true}, {"a", a3, false}, // a's 100 used
		{"b", b1, true}, // b has a share of its own
		{"b", a1, true}, // charged to a already: not again
		{"c", a3, true}, // another node may bring what a could not
	} {
		_, err := s.charge(c.node, c.id)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrNodeShare)) {
			t.Errorf("charge(%s, %d bytes) = %v, want ok %v", c.node, c.id.Size, err, c.ok)
		}
	}
	if u := s.usedBy("a"); u != 100 {
		t.Errorf("a uses %d, want 100", u)
	}
	s.refund(a2)
	s.refund(a2) // twice: nothing more
	if u := s.usedBy("a"); u != 60 {
		t.Errorf("after a refund a uses %d, want 60", u)
	}
	if _, err := s.charge("a", testBlobID(40, 5)); err != nil {
		t.Errorf("the refunded bytes are not free again: %v", err)
	}
}
