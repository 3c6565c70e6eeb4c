package httpd

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Role is what a dashboard user may do: a monitor reads, an operator
// also cancels tasks. They are the embedded broker's roles of the same
// names.
type Role string

const (
	RoleMonitor  Role = "monitor"
	RoleOperator Role = "operator"
)

// sessionCookie carries a dashboard login. It is HttpOnly and
// SameSite=Strict: another site's page can neither read it nor have the
// browser send it, so it also stands for a CSRF token.
const sessionCookie = "tether_session"

// sessionTTL is how long a login lasts; maxSessions bounds the logins held
// (the oldest goes first), so repeated logins cannot grow memory.
const (
	sessionTTL  = 12 * time.Hour
	maxSessions = 1024
)

// Failed logins are limited fleet-wide to loginBurst at once, refilled at
// one per loginRefill: guessing passwords stays slow whatever the
// password file's hash cost is.
const (
	loginBurst  = 10
	loginRefill = 200 * time.Millisecond
)

type login struct {
	user    string
	role    Role
	expires time.Time // monotonic
}

// sessions are the dashboard's logins, by random token.
type sessions struct {
	check func(user, password string) (Role, error)
	now   func() time.Time

	mu     sync.Mutex // guards byID, order, tokens, filled
	byID   map[string]login
	order  []string // tokens, oldest first
	tokens float64  // failed logins allowed now
	filled time.Time
}

func newSessions(check func(user, password string) (Role, error)) *sessions {
	return &sessions{check: check, now: time.Now, byID: map[string]login{}, tokens: loginBurst}
}

// errTooManyLogins refuses a login while failed ones are over the limit.
var errTooManyLogins = errors.New("too many failed logins: wait a few seconds")

// allowFailure takes one failed-login token, or reports there is none.
func (s *sessions) allowFailure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.filled.IsZero() {
		s.tokens = min(loginBurst, s.tokens+float64(now.Sub(s.filled))/float64(loginRefill))
	}
	s.filled = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// start checks user's password and opens a session.
func (s *sessions) start(user, password string) (string, login, error) {
	if !s.allowFailure() {
		return "", login{}, errTooManyLogins
	}
	role, err := s.check(user, password)
	if err != nil {
		return "", login{}, err
	}
	s.mu.Lock()
	s.tokens++ // it did not fail: give the token back
	s.mu.Unlock()
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	l := login{user: user, role: role, expires: s.now().Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = min(s.tokens, loginBurst)
	for len(s.order) >= maxSessions {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	s.byID[id] = l
	s.order = append(s.order, id)
	return id, l, nil
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
	for i, t := range s.order {
		if t == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

// of returns the request's login, if any and unexpired.
func (s *sessions) of(r *http.Request) (login, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return login{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.byID[c.Value]
	if !ok || !s.now().Before(l.expires) {
		return login{}, false
	}
	return l, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// sameOrigin refuses a state-changing request another site's page made:
// browsers send Origin on every POST.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == "http://"+r.Host || o == "https://"+r.Host
}

func (d *dashboard) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	var in struct{ User, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil || in.User == "" {
		writeError(w, http.StatusBadRequest, "send a user and a password")
		return
	}
	id, l, err := d.sessions.start(in.User, in.Password)
	switch {
	case errors.Is(err, errTooManyLogins):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		d.log.Info("dashboard login refused", "user", in.User, "remote", r.RemoteAddr, "reason", err)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	d.log.Info("dashboard login", "user", l.user, "role", l.role, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	writeJSON(w, http.StatusOK, map[string]string{"user": l.user, "role": string(l.role)})
}

func (d *dashboard) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		d.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (d *dashboard) handleMe(w http.ResponseWriter, r *http.Request) {
	l, ok := d.sessions.of(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": l.user, "role": string(l.role)})
}
