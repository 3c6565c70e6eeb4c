package enrol

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestUpdateConcurrentLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enrol.json")
	if err := Update(path, func(s *State) error {
		tok, _, err := NewToken(time.Now(), 40, time.Hour, "")
		s.Tokens = append(s.Tokens, tok)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := Update(path, func(s *State) error {
				s.Tokens[0].UsesLeft--
				s.SetPending(PendingNode{Node: fmt.Sprintf("n%d", i), Reason: "x"})
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Tokens[0].UsesLeft != 0 || len(s.Pending) != 40 {
		t.Fatalf("uses left %d, pending %d; want 0 and 40", s.Tokens[0].UsesLeft, len(s.Pending))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestUpdateErrorChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enrol.json")
	_ = Update(path, func(s *State) error { s.Approve("a"); return nil })
	if err := Update(path, func(s *State) error { s.Revoke("a"); return fmt.Errorf("no") }); err == nil {
		t.Fatal("error not returned")
	}
	s, _ := Load(path)
	if !Has(s.Approved, "a") || Has(s.Revoked, "a") {
		t.Fatalf("state changed by a failed update: %+v", s)
	}
	s.Revoke("a")
	if Has(s.Approved, "a") || !Has(s.Revoked, "a") {
		t.Fatalf("revoke: %+v", s)
	}
	s.Approve("a")
	if !Has(s.Approved, "a") || Has(s.Revoked, "a") {
		t.Fatalf("approve: %+v", s)
	}
	if err := os.WriteFile(path, []byte(`{"v":9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("a future version loaded")
	}
}
