package enrol

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tok, s, err := NewToken(now, 2, time.Hour, `pi-[0-9]+`)
	if err != nil {
		t.Fatal(err)
	}
	other, os, _ := NewToken(now, 2, time.Hour, "")
	req := func(node, token string) Request { return Request{Node: node, Token: token, Secret: "pw"} }
	wrongSecret := tok.ID + "." + strings.Split(os, ".")[1]
	cases := []struct {
		name string
		now  time.Time
		tok  Token
		nil_ bool
		req  Request
		ex   Existing
		want Decision
	}{
		{"fresh", now, tok, false, req("pi-1", s), Existing{}, Decision{Outcome: Enrolled, Use: true}},
		{"no such token", now, tok, true, req("pi-1", s), Existing{}, Decision{Outcome: Refused, Reason: ReasonUnknownToken}},
		{"another token's id", now, other, false, req("pi-1", s), Existing{}, Decision{Outcome: Refused, Reason: ReasonUnknownToken}},
		{"wrong secret", now, tok, false, req("pi-1", wrongSecret), Existing{}, Decision{Outcome: Refused, Reason: ReasonUnknownToken}},
		{"malformed", now, tok, false, req("pi-1", "x"), Existing{}, Decision{Outcome: Refused, Reason: ReasonUnknownToken}},
		{"revoked token", now, func() Token { t := tok; t.Revoked = true; return t }(), false, req("pi-1", s), Existing{}, Decision{Outcome: Refused, Reason: ReasonRevokedToken}},
		{"other key", now, tok, false, req("pi-1", s), Existing{Enrolled: true}, Decision{Outcome: Refused, Reason: ReasonOtherKey}},
		{"retry", now, tok, false, req("pi-1", s), Existing{Enrolled: true, SameKey: true}, Decision{Outcome: Enrolled, Reason: ReasonAlready}},
		{"expired", now.Add(time.Hour), tok, false, req("pi-1", s), Existing{}, Decision{Outcome: Pending, Reason: ReasonExpired}},
		{"exhausted", now, func() Token { t := tok; t.UsesLeft = 0; return t }(), false, req("pi-1", s), Existing{}, Decision{Outcome: Pending, Reason: ReasonExhausted}},
		{"name", now, tok, false, req("cam-1", s), Existing{}, Decision{Outcome: Pending, Reason: ReasonNameNotAllow}},
		{"name in part", now, tok, false, req("pi-1x", s), Existing{}, Decision{Outcome: Pending, Reason: ReasonNameNotAllow}},
		{"approved overrides policy", now.Add(time.Hour), tok, false, req("cam-1", s), Existing{Approved: true}, Decision{Outcome: Enrolled, Reason: ReasonApproved}},
		{"approved still needs the token", now, tok, false, req("cam-1", wrongSecret), Existing{Approved: true}, Decision{Outcome: Refused, Reason: ReasonUnknownToken}},
		{"revoked node", now, tok, false, req("pi-1", s), Existing{Revoked: true}, Decision{Outcome: Pending, Reason: ReasonNodeRevoked}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := &c.tok
			if c.nil_ {
				tk = nil
			}
			if got := Decide(c.now, tk, c.req, c.ex); got != c.want {
				t.Errorf("Decide = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestNewTokenChecks(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		uses  int
		ttl   time.Duration
		names string
	}{{0, time.Hour, ""}, {1, 0, ""}, {1, time.Hour, "pi-("}, {1, time.Hour, strings.Repeat("a", MaxNamesLen+1)}} {
		if _, _, err := NewToken(now, c.uses, c.ttl, c.names); err == nil {
			t.Errorf("NewToken(%d, %v, %q) accepted", c.uses, c.ttl, c.names)
		}
	}
	tok, s, err := NewToken(now, 1, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := ParseToken(s + "\n")
	if err != nil || id != tok.ID || !tok.Matches(secret) {
		t.Fatalf("ParseToken(%q) = %q, %q, %v; token %+v", s, id, secret, err, tok)
	}
	if strings.Contains(tok.Hash, secret) {
		t.Fatal("the stored token holds its secret")
	}
	_, s2, _ := NewToken(now, 1, time.Hour, "")
	if s2 == s {
		t.Fatal("two tokens alike")
	}
}
