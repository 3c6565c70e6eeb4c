package mqttd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// The password file is Mosquitto's (mosquitto_passwd, Mosquitto 2's
// src/password_mosq.c and security_default.c), so one file serves the
// embedded broker and an external Mosquitto:
//
//	# comment
//	user:$7$<iterations>$<base64 salt>$<base64 hash>   PBKDF2-HMAC-SHA512 (Mosquitto 2's default)
//	user:$6$<base64 salt>$<base64 hash>                SHA-512(password || salt) (Mosquitto ≤ 1.6)
//	user:$2a$<cost>$<bcrypt salt and hash>             bcrypt, which NATS reads too (deploy/nats)
//
// The salt is 12 random bytes, the hash 64 bytes (a SHA-512 output), both in
// standard base64 with padding; Mosquitto refuses any other lengths. New
// hashes use 101 iterations, mosquitto_passwd's default.
const (
	saltLen          = 12
	hashLen          = sha512.Size
	hashIterations   = 101
	maxHashIteration = 1_000_000 // bounds the CPU one CONNECT can cost
	// BcryptCost is the cost of new bcrypt hashes: ~4 ms a CONNECT on a
	// 2020 x86 core, so a 10,000-node connect storm costs NATS about
	// 40 CPU-seconds. maxBcryptCost bounds what a CONNECT can cost (12:
	// 16 times that).
	BcryptCost    = 8
	maxBcryptCost = 12
	// maxBcryptPassword is what bcrypt reads of a password; longer ones
	// are refused rather than silently cut.
	maxBcryptPassword = 72
)

type hashKind byte

const (
	kindSHA512       hashKind = 6
	kindSHA512PBKDF2 hashKind = 7
	kindBcrypt       hashKind = 2
)

// Hash selects how new passwords are hashed (SetUsersHash).
type Hash uint8

const (
	// HashPBKDF2 writes $7$ lines: Mosquitto's format and the default.
	HashPBKDF2 Hash = iota
	// HashBcrypt writes $2a$ lines: the embedded broker and NATS read
	// them (tether-broker natsconf), Mosquitto does not.
	HashBcrypt
)

func (h Hash) kind() hashKind {
	if h == HashBcrypt {
		return kindBcrypt
	}
	return kindSHA512PBKDF2
}

// passwordHash is one decoded `$6$`, `$7$` or `$2a$` entry.
type passwordHash struct {
	kind       hashKind
	iterations int // $7$ only
	salt       []byte
	hash       []byte // $2a$: the whole entry, as bcrypt reads it
}

// Credentials is a loaded password file. It is immutable, so it is safe for
// concurrent use; Server.Reload swaps in a new one.
type Credentials struct {
	users  map[string]passwordHash
	bcrypt bool // some entry is bcrypt: an unknown user costs a bcrypt check
}

// dummyBcrypt is what an unknown user is checked against in a file with
// bcrypt entries (see dummy).
var dummyBcrypt = sync.OnceValue(func() []byte {
	b, _ := bcrypt.GenerateFromPassword([]byte("tether-unknown-user"), BcryptCost)
	return b
})

// dummy is verified against when a user is unknown, so that an unknown user
// costs as much time as a wrong password.
var dummy = passwordHash{kind: kindSHA512PBKDF2, iterations: hashIterations, salt: make([]byte, saltLen), hash: make([]byte, hashLen)}

// LoadCredentials reads and parses the password file at path. Errors name
// the file and line.
func LoadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	c, err := parseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("credentials %s:%w", path, err)
	}
	return c, nil
}

// parseCredentials parses a password file. Errors start with the line
// number ("3: ..."). Blank lines and lines starting with '#' are skipped;
// unlike Mosquitto, which logs and drops a bad entry, any malformed line or
// duplicate user is an error, so a typo cannot silently lock a node out.
func parseCredentials(data []byte) (*Credentials, error) {
	c := &Credentials{users: map[string]passwordHash{}}
	for i, line := range strings.Split(string(data), "\n") {
		user, h, skip, err := parseCredentialLine(line)
		if err != nil {
			return nil, fmt.Errorf("%d: %w", i+1, err)
		}
		if skip {
			continue
		}
		if _, dup := c.users[user]; dup {
			return nil, fmt.Errorf("%d: user %q appears twice", i+1, user)
		}
		c.users[user] = h
		c.bcrypt = c.bcrypt || h.kind == kindBcrypt
	}
	return c, nil
}

// parseCredentialLine parses one line; skip is true for blank and comment
// lines.
func parseCredentialLine(line string) (user string, h passwordHash, skip bool, err error) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
		return "", h, true, nil
	}
	user, enc, ok := strings.Cut(line, ":")
	if !ok {
		return "", h, false, errors.New("want user:$7$iterations$salt$hash")
	}
	user = strings.TrimSpace(user)
	if user == "" {
		return "", h, false, errors.New("empty user name")
	}
	h, err = parseHash(strings.TrimSpace(enc))
	if err != nil {
		return "", h, false, fmt.Errorf("user %q: %w", user, err)
	}
	return user, h, false, nil
}

func parseHash(s string) (passwordHash, error) {
	var h passwordHash
	parts := strings.Split(s, "$")
	if len(parts) < 2 || parts[0] != "" {
		return h, errors.New("password is not a hash: store hashes made by `tether-broker passwd` or mosquitto_passwd, never plain text")
	}
	switch parts[1] {
	case "6":
		if len(parts) != 4 {
			return h, errors.New("want $6$salt$hash")
		}
		h.kind = kindSHA512
		parts = parts[2:]
	case "7":
		if len(parts) != 5 {
			return h, errors.New("want $7$iterations$salt$hash")
		}
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > maxHashIteration {
			return h, fmt.Errorf("iterations %q: want 1 to %d", parts[2], maxHashIteration)
		}
		h.kind, h.iterations = kindSHA512PBKDF2, n
		parts = parts[3:]
	case "2a", "2b", "2y":
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil || len(parts) != 4 {
			return h, errors.New("want $2a$cost$salt-and-hash (bcrypt)")
		}
		if cost > maxBcryptCost {
			return h, fmt.Errorf("bcrypt cost %d: want at most %d", cost, maxBcryptCost)
		}
		h.kind, h.hash = kindBcrypt, []byte(s)
		return h, nil
	default:
		return h, fmt.Errorf("hash type $%s$ is not supported: want $7$ (PBKDF2-SHA512), $6$ (SHA-512) or $2a$ (bcrypt)", parts[1])
	}
	var err error
	if h.salt, err = base64.StdEncoding.DecodeString(parts[0]); err != nil || len(h.salt) != saltLen {
		return h, fmt.Errorf("salt must be %d bytes in standard base64", saltLen)
	}
	if h.hash, err = base64.StdEncoding.DecodeString(parts[1]); err != nil || len(h.hash) != hashLen {
		return h, fmt.Errorf("hash must be %d bytes in standard base64", hashLen)
	}
	return h, nil
}

func (h passwordHash) sum(password string) []byte {
	if h.kind == kindSHA512 {
		d := sha512.New()
		d.Write([]byte(password))
		d.Write(h.salt)
		return d.Sum(nil)
	}
	k, err := pbkdf2.Key(sha512.New, password, h.salt, h.iterations, hashLen)
	if err != nil { // only in FIPS 140-only mode with a short password or salt
		return nil
	}
	return k
}

func (h passwordHash) String() string {
	if h.kind == kindBcrypt {
		return string(h.hash)
	}
	salt := base64.StdEncoding.EncodeToString(h.salt)
	hash := base64.StdEncoding.EncodeToString(h.hash)
	if h.kind == kindSHA512 {
		return "$6$" + salt + "$" + hash
	}
	return "$7$" + strconv.Itoa(h.iterations) + "$" + salt + "$" + hash
}

// Verify reports whether password is user's. The comparison is constant
// time, and an unknown user costs as much as a known one.
func (c *Credentials) Verify(user, password string) bool {
	h, ok := c.users[user]
	if !ok {
		if c.bcrypt {
			_ = bcrypt.CompareHashAndPassword(dummyBcrypt(), []byte(password))
		} else {
			dummy.sum(password)
		}
		return false
	}
	if h.kind == kindBcrypt {
		return bcrypt.CompareHashAndPassword(h.hash, []byte(password)) == nil
	}
	got := h.sum(password)
	return got != nil && subtle.ConstantTimeCompare(got, h.hash) == 1
}

// Entry returns user's hash as its password-file line has it, and whether
// the user exists. Only bcrypt entries are meaningful to other servers
// (NATS); see tether-broker natsconf.
func (c *Credentials) Entry(user string) (string, bool) {
	h, ok := c.users[user]
	if !ok {
		return "", false
	}
	return h.String(), true
}

// Users returns the user names, in no particular order.
func (c *Credentials) Users() []string {
	out := make([]string, 0, len(c.users))
	for u := range c.users {
		out = append(out, u)
	}
	return out
}

// Has reports whether user has an entry.
func (c *Credentials) Has(user string) bool {
	_, ok := c.users[user]
	return ok
}

// Len is the number of users.
func (c *Credentials) Len() int { return len(c.users) }

// HashPassword returns the password-file form of password:
// $7$101$<salt>$<hash>, as mosquitto_passwd writes it.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	h := passwordHash{kind: kindSHA512PBKDF2, iterations: hashIterations, salt: make([]byte, saltLen)}
	rand.Read(h.salt) // never returns an error (crypto/rand, Go 1.24+)
	h.hash = h.sum(password)
	if h.hash == nil {
		return "", errors.New("credentials: PBKDF2 failed")
	}
	return h.String(), nil
}

// HashPasswordBcrypt returns the password-file form of password as a bcrypt
// hash of cost BcryptCost ($2a$08$…), which NATS reads too.
func HashPasswordBcrypt(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	if len(password) > maxBcryptPassword {
		return "", fmt.Errorf("credentials: bcrypt reads at most %d bytes of a password", maxBcryptPassword)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("credentials: bcrypt: %w", err)
	}
	return string(b), nil
}

func (h Hash) hash(password string) (string, error) {
	if h == HashBcrypt {
		return HashPasswordBcrypt(password)
	}
	return HashPassword(password)
}

func checkPassword(p string) error {
	switch {
	case p == "":
		return errors.New("credentials: empty password")
	case strings.ContainsRune(p, 0):
		// Mosquitto compares passwords as C strings.
		return errors.New("credentials: password contains a NUL byte")
	case len(p) > 65535:
		return errors.New("credentials: password is longer than MQTT allows (65535 bytes)")
	}
	return nil
}

// AddUser sets user's password in the password file at path, creating the
// file (mode 0600) if it does not exist. Other lines are kept byte for byte;
// the file is replaced atomically (temporary file, fsync, rename, fsync of
// the directory), keeping its mode and owner, so a broker reading it never
// sees half a file, and under a lock, so concurrent writers lose nothing
// (see SetUsers). user must be a valid Tether id (protocol.ValidateID).
func AddUser(path, user, password string) error {
	_, err := SetUsers(path, []User{{Name: user, Password: password}})
	return err
}
