package serve

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentenrol "github.com/tether-edge/tether/agent/enrol"
	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// TestEnrolTwentyAgents: 20 agents enrol from one 20-use token at once on
// a running scheduler with its embedded broker, and each then connects as
// itself with the password it generated; a 21st is told the token is used
// up, an agent with an expired token that it expired, and both wait.
func TestEnrolTwentyAgents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "enrol.json")
	now := time.Now()
	tok, token, err := enrol.NewToken(now, 20, time.Hour, `pi-[0-9]+`)
	if err != nil {
		t.Fatal(err)
	}
	old, oldToken, _ := enrol.NewToken(now, 5, time.Hour, "")
	old.Expires = now.Add(-time.Minute)
	if err := enrol.Update(file, func(s *enrol.State) error { s.Tokens = append(s.Tokens, tok, old); return nil }); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{}
	for _, tk := range []string{token, oldToken} {
		u, pw, _ := agentenrol.Identity(tk)
		users[u] = pw
	}
	url, _ := startServe(t, users, func(c *config.Config) { c.Enrol.File = file })

	opts := func(node, tk string) agentenrol.Options {
		return agentenrol.Options{Brokers: []string{url}, Region: "default", Node: node, Token: tk, Retry: 3 * time.Second, KeepAlive: 5 * time.Second}
	}
	start := time.Now()
	passwords := make([]string, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			pw, err := agentenrol.Enrol(ctx, opts(fmt.Sprintf("pi-%d", i), token))
			if err != nil {
				t.Errorf("pi-%d: %v", i, err)
			}
			passwords[i] = pw
		})
	}
	wg.Wait()
	t.Logf("20 agents enrolled in %v", time.Since(start))
	for i, pw := range passwords {
		if pw == "" {
			continue
		}
		s, err := session.New(session.Options{Brokers: []string{url}, ClientID: fmt.Sprintf("pi-%d", i), Username: fmt.Sprintf("pi-%d", i), Password: pw, CleanSession: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		if err := s.WaitConnected(ctx); err != nil {
			t.Errorf("pi-%d cannot connect as itself: %v", i, err)
		}
		cancel()
		<-done
	}

	firstReply := func(node, tk string) protocol.EnrolReply {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got protocol.EnrolReply
		o := opts(node, tk)
		o.OnReply = func(r protocol.EnrolReply) { got = r; cancel() }
		if _, err := agentenrol.Enrol(ctx, o); err == nil {
			t.Fatalf("%s enrolled", node)
		}
		return got
	}
	if r := firstReply("pi-99", token); r.Outcome != protocol.EnrolPending || r.Reason != enrol.ReasonExhausted {
		t.Errorf("21st agent: %+v, want pending %q", r, enrol.ReasonExhausted)
	}
	if r := firstReply("pi-98", oldToken); r.Outcome != protocol.EnrolPending || r.Reason != enrol.ReasonExpired {
		t.Errorf("expired token: %+v, want pending %q", r, enrol.ReasonExpired)
	}
	st, err := enrol.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 2 || st.Token(tok.ID).UsesLeft != 0 {
		t.Errorf("pending %+v, uses left %d", st.Pending, st.Token(tok.ID).UsesLeft)
	}
}

// TestReloadCommand: enrol.reload_command's failure is an error naming the
// command with what it printed; its success is nil.
func TestReloadCommand(t *testing.T) {
	if err := runReload([]string{"true"})(); err != nil {
		t.Fatalf("true: %v", err)
	}
	err := runReload([]string{"sh", "-c", "echo mosquitto is not running >&2; exit 3"})()
	if err == nil || !strings.Contains(err.Error(), "mosquitto is not running") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a failing reload: %v", err)
	}
}
