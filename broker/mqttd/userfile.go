package mqttd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// User is one entry to set in a password file.
type User struct {
	Name     string
	Password string
}

// Outcome says what SetUsers did to one user.
type Outcome uint8

const (
	Added     Outcome = iota + 1 // the user was not in the file
	Changed                      // the user's password changed
	Unchanged                    // the user already had this password; its line is kept
)

func (o Outcome) String() string {
	switch o {
	case Added:
		return "added"
	case Changed:
		return "changed"
	case Unchanged:
		return "unchanged"
	}
	return "?"
}

// SetUsers sets the passwords of users in the password file at path,
// creating it (mode 0600) if missing, in one rewrite: every user is
// validated and hashed first, then the file is read, changed and replaced
// atomically (see AddUser) while an exclusive lock is held, so concurrent
// SetUsers, AddUser and DeleteUsers calls — in this process or others —
// never lose each other's updates. On any error the file is left as it was.
// A name may appear once in users. The outcomes are in users' order.
//
// Hashing dominates the cost (PBKDF2-SHA512 with 101 iterations, ~0.1 ms a
// user on one core); it runs on every core, before the lock is taken.
func SetUsers(path string, users []User) ([]Outcome, error) {
	return SetUsersHash(path, users, HashPBKDF2)
}

// SetUsersHash is SetUsers with new passwords hashed as hash says. A user
// whose password is unchanged but hashed the other way is rewritten.
func SetUsersHash(path string, users []User, hash Hash) ([]Outcome, error) {
	seen := make(map[string]struct{}, len(users))
	for _, u := range users {
		if err := validateUser(u.Name); err != nil {
			return nil, err
		}
		if err := checkPassword(u.Password); err != nil {
			return nil, fmt.Errorf("%w (user %q)", err, u.Name)
		}
		if _, dup := seen[u.Name]; dup {
			return nil, fmt.Errorf("credentials: user %q given twice", u.Name)
		}
		seen[u.Name] = struct{}{}
	}
	entries, err := hashAll(users, hash)
	if err != nil {
		return nil, err
	}
	var outcomes []Outcome
	err = withLock(path, func(old []byte) ([]byte, error) {
		cur, err := parseCredentials(old)
		if err != nil {
			return nil, err
		}
		outcomes = make([]Outcome, len(users))
		set := make(map[string]string, len(users))
		for i, u := range users {
			h, ok := cur.users[u.Name]
			switch {
			case !ok:
				outcomes[i] = Added
				set[u.Name] = entries[i]
			case h.kind == hash.kind() && cur.Verify(u.Name, u.Password):
				outcomes[i] = Unchanged // keep the line, and its salt
			default:
				outcomes[i] = Changed
				set[u.Name] = entries[i]
			}
		}
		return rewriteUsers(old, set, nil, users), nil
	})
	if err != nil {
		return nil, err
	}
	return outcomes, nil
}

// DeleteUsers removes users from the password file at path in one locked,
// atomic rewrite. A user that is not in the file is an error, and then
// nothing is removed.
func DeleteUsers(path string, users []string) error {
	return withLock(path, func(old []byte) ([]byte, error) {
		cur, err := parseCredentials(old)
		if err != nil {
			return nil, err
		}
		del := make(map[string]bool, len(users))
		for _, u := range users {
			if !cur.Has(u) {
				return nil, fmt.Errorf(" no user %q", u)
			}
			del[u] = true
		}
		return rewriteUsers(old, nil, del, nil), nil
	})
}

// ListUsers returns the users of the password file at path, sorted.
func ListUsers(path string) ([]string, error) {
	c, err := LoadCredentials(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(c.users))
	for u := range c.users {
		names = append(names, u)
	}
	slices.Sort(names)
	return names, nil
}

// hashAll hashes every password, spread over the machine's cores.
func hashAll(users []User, hash Hash) ([]string, error) {
	out := make([]string, len(users))
	errs := make([]error, len(users))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(users), 1)) {
		wg.Go(func() {
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= len(users) {
					return
				}
				out[j], errs[j] = hash.hash(users[j].Password)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// rewriteUsers returns file with the lines of the users in set replaced by
// their new entries, the users in del removed, and the users of set that
// were not in file appended in the order of order. Every other line is kept
// byte for byte. file must parse.
func rewriteUsers(file []byte, set map[string]string, del map[string]bool, order []User) []byte {
	var b bytes.Buffer
	b.Grow(len(file) + len(set)*160)
	done := make(map[string]bool, len(set))
	for _, l := range strings.SplitAfter(string(file), "\n") {
		u, _, skip, _ := parseCredentialLine(strings.TrimSuffix(l, "\n"))
		switch {
		case skip:
		case del[u]:
			continue
		case set[u] != "":
			b.WriteString(u + ":" + set[u] + "\n")
			done[u] = true
			continue
		}
		b.WriteString(l)
	}
	for _, u := range order {
		if e := set[u.Name]; e != "" && !done[u.Name] {
			if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
				b.WriteByte('\n')
			}
			b.WriteString(u.Name + ":" + e + "\n")
		}
	}
	return b.Bytes()
}

// withLock runs change on the password file's content (nil if it does not
// exist) while holding an exclusive flock on the file's directory, and
// replaces the file with what change returns. The directory is locked, not
// the file, because the file is replaced by a rename: a lock on its old
// inode would not exclude a writer that opened the new one. Mosquitto's
// tools take no lock; only Tether's writers exclude each other.
func withLock(path string, change func(old []byte) ([]byte, error)) error {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer d.Close() // closing drops the lock
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("credentials: lock %s: %w", dir, err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("credentials: %w", err)
	}
	out, err := change(old)
	if err != nil {
		return fmt.Errorf("credentials %s:%w", path, err)
	}
	return writeFileAtomic(path, out)
}
