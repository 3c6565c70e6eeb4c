// Package enrol is zero-touch enrolment's agent side: with a site token
// and no password, the agent generates its own password, asks the
// scheduler for credentials as the token's restricted enrolment identity,
// and returns the password once the scheduler enrolled it
// (docs/protocol.md, "Enrolment").
package enrol

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/atomicfile"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Options configure Enrol.
type Options struct {
	Brokers   []string
	TLS       *tls.Config
	KeepAlive time.Duration
	Region    string
	Node      string
	// Token is the site enrolment token, "<id>.<secret>".
	Token string
	// Retry is how long the agent waits for a reply before asking again,
	// and how long after a pending or refused reply. Default 30 s.
	Retry  time.Duration
	Logger *slog.Logger
	// OnReply, if set, sees every reply (tests and operators' logs).
	OnReply func(protocol.EnrolReply)
}

func (o *Options) ensureDefaults() {
	if o.Retry <= 0 {
		o.Retry = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// UserPrefix starts an enrolment identity's username: "enrol-<token id>".
const UserPrefix = "enrol-"

// Identity returns the MQTT username and password of token's enrolment
// identity.
func Identity(token string) (user, password string, err error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || id == "" || secret == "" || strings.ContainsAny(id, "/+#@:") {
		return "", "", errors.New("enrolment token: want <id>.<secret>")
	}
	return UserPrefix + id, secret, nil
}

// NewPassword returns 32 characters of 192 random bits.
func NewPassword() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Enrol asks for credentials until the scheduler enrols the node or ctx
// ends, and returns the password it enrolled with. A pending or refused
// reply is logged with its reason and the request repeated every Retry:
// an operator's nodes approve, or a new token, ends the wait.
func Enrol(ctx context.Context, o Options) (string, error) {
	o.ensureDefaults()
	user, secret, err := Identity(o.Token)
	if err != nil {
		return "", err
	}
	topics, err := protocol.NewTopics(o.Region)
	if err != nil {
		return "", err
	}
	if err := protocol.ValidateID("node id", o.Node); err != nil {
		return "", err
	}
	password := NewPassword()
	req, err := json.Marshal(protocol.EnrolRequest{V: protocol.Version, Node: o.Node, Token: strings.TrimSpace(o.Token), Password: password})
	if err != nil {
		return "", err
	}
	log := o.Logger.With("component", "enrol")
	sess, err := session.New(session.Options{
		Brokers: o.Brokers, TLS: o.TLS, KeepAlive: o.KeepAlive,
		ClientID: user + "@" + o.Node, Username: user, Password: secret,
		CleanSession: true, Logger: log,
	})
	if err != nil {
		return "", err
	}
	replies := make(chan protocol.EnrolReply, 8)
	if err := sess.Subscribe(ctx, topics.EnrolReply(o.Node), 1, func(m session.Message) {
		r, err := protocol.DecodeEnrolReply(m.Payload)
		if err != nil || r.Node != o.Node {
			return
		}
		select {
		case replies <- r:
		default:
		}
	}); err != nil {
		return "", err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sess.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	for {
		if err := sess.WaitConnected(ctx); err != nil {
			return "", err
		}
		pctx, cancel := context.WithTimeout(ctx, o.Retry)
		err := sess.Publish(pctx, session.Message{Topic: topics.EnrolRequest(o.Node), QoS: 1, Payload: req})
		cancel()
		if err != nil {
			log.Warn("enrolment request not sent; asking again", "err", err)
		}
		wait := time.NewTimer(o.Retry)
	collect:
		for {
			select {
			case <-ctx.Done():
				wait.Stop()
				return "", ctx.Err()
			case r := <-replies:
				if o.OnReply != nil {
					o.OnReply(r)
				}
				if r.Outcome == protocol.EnrolEnrolled {
					wait.Stop()
					log.Info("enrolled", "node", o.Node, "reason", r.Reason)
					return password, nil
				}
				log.Warn("enrolment "+r.Outcome+"; asking again later", "node", o.Node, "reason", r.Reason, "retry", o.Retry)
			case <-wait.C:
				break collect
			}
		}
	}
}

// WriteSecret writes secret and a newline to path, mode 0600, atomically:
// a temporary file in the same directory, fsynced, renamed over path, the
// directory fsynced. The directory is created (0700) if missing.
func WriteSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	if err := atomicfile.Write(path, strings.NewReader(secret+"\n"), atomicfile.Options{Mode: 0o600, ForceMode: true}); err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	return nil
}

// NeedsEnrolment reports whether an agent with a password file at path
// (and no password in its configuration) has no credentials yet.
func NeedsEnrolment(path string) bool {
	fi, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0)
}
