// Package enrol is zero-touch enrolment's scheduler side: site enrolment
// tokens and the policy that decides, for one node's request, whether it is
// enrolled at once, waits for an operator (tether-broker nodes approve) or
// is refused. The policy (Decide) is pure; Store keeps the tokens in a file.
//
// A token is "<id>.<secret>": id is 12 hex digits, secret 32 random bytes
// in unpadded base64url. Only the secret's SHA-256 is stored; the secret is
// printed once, when the token is made, and goes on the devices (the
// agent's enrol.token_file). 256 random bits need no slow hash.
package enrol

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

const (
	idLen     = 12 // hex digits
	secretLen = 32 // bytes
	// UserPrefix starts the MQTT user of a token's enrolment identity:
	// "enrol-<id>". Its password is the token's secret.
	UserPrefix = "enrol-"
	// MaxNamesLen bounds a token's node-name pattern.
	MaxNamesLen = 256
)

// Token is one site enrolment token as stored: never its secret.
type Token struct {
	ID      string    `json:"id"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the secret
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// UsesLeft is how many more nodes the token enrols by itself.
	UsesLeft int `json:"uses_left"`
	// Names is a regular expression a node id must match in full; empty:
	// any node id.
	Names   string `json:"names,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
}

// User is the MQTT user of the token's enrolment identity.
func (t Token) User() string { return UserPrefix + t.ID }

// NewToken makes a token enrolling up to uses nodes whose ids match names
// (in full; empty: any) until now+ttl. It returns the token as stored and
// the string handed to devices, "<id>.<secret>".
func NewToken(now time.Time, uses int, ttl time.Duration, names string) (Token, string, error) {
	if uses < 1 {
		return Token{}, "", fmt.Errorf("count %d: want at least 1", uses)
	}
	if ttl <= 0 {
		return Token{}, "", fmt.Errorf("expiry %v: want a positive duration", ttl)
	}
	if _, err := compileNames(names); err != nil {
		return Token{}, "", err
	}
	var id [idLen / 2]byte
	var secret [secretLen]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
	_, _ = rand.Read(secret[:])
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	t := Token{
		ID:       hex.EncodeToString(id[:]),
		Hash:     hashSecret(s),
		Created:  now.UTC().Round(0),
		Expires:  now.Add(ttl).UTC().Round(0),
		UsesLeft: uses,
		Names:    names,
	}
	return t, t.ID + "." + s, nil
}

// ParseToken splits a device's token into its id and secret, checking
// their forms.
func ParseToken(s string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok || len(id) != idLen || !isLowerHex(id) {
		return "", "", errors.New("enrolment token: want <12 hex digits>.<secret>")
	}
	b, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(b) != secretLen {
		return "", "", errors.New("enrolment token: the secret is not 32 bytes of base64url")
	}
	return id, secret, nil
}

// Matches reports, in constant time, whether secret is this token's.
func (t Token) Matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.Hash)) == 1
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// compileNames compiles a node-name pattern anchored at both ends.
func compileNames(names string) (*regexp.Regexp, error) {
	if names == "" {
		return nil, nil
	}
	if len(names) > MaxNamesLen {
		return nil, fmt.Errorf("names pattern is longer than %d characters", MaxNamesLen)
	}
	re, err := regexp.Compile(`^(?:` + names + `)$`)
	if err != nil {
		return nil, fmt.Errorf("names pattern: %w", err)
	}
	return re, nil
}
