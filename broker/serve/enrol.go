package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// enroller answers enrolment requests (docs/protocol.md, "Enrolment"):
// the token's policy (enrol.Decide) against the enrolment file, and for an
// enrolment the node's password into the broker's password file, which the
// broker then re-reads (the embedded broker itself; an external one by
// enrol.reload_command). One request is decided at a time, so two requests
// for one node id cannot both be enrolled with different passwords: the
// second finds the first's and is refused.
type enroller struct {
	mu     sync.Mutex
	file   string       // enrol.file
	creds  string       // the broker's password file (config.EnrolCredentials)
	reload func() error // makes the broker re-read creds
	now    func() time.Time
}

// reloadTimeout bounds enrol.reload_command.
const reloadTimeout = 10 * time.Second

// runReload returns a reload that runs argv (enrol.reload_command) and
// waits for it: an error, with what the command printed, if it does not
// exit 0 within reloadTimeout.
func runReload(argv []string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("enrol.reload_command %q: %w: %s", strings.Join(argv, " "), err, clipOutput(out))
		}
		return nil
	}
}

// clipOutput is a command's output for an error message: trimmed, at most
// 200 bytes.
func clipOutput(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (s *scheduler) onEnrol(m session.Message) {
	req, err := protocol.DecodeEnrolRequest(m.Payload)
	if err == nil && m.Topic != s.topics.EnrolRequest(req.Node) {
		err = fmt.Errorf("request for node %q on %s", req.Node, m.Topic)
	}
	if err == nil && m.Retained {
		err = errors.New("retained enrolment request")
	}
	if err != nil {
		s.reject(m, err)
		return
	}
	reply := protocol.EnrolReply{V: protocol.Version, Node: req.Node, Outcome: protocol.EnrolRefused, Reason: "enrolment is off on this scheduler"}
	if s.enrol != nil {
		if reply, err = s.enrol.handle(req, s.reserved); err != nil {
			// No reply: the agent asks again.
			s.log.Error("enrolment failed", "node", req.Node, "err", err)
			return
		}
	}
	s.log.Info("enrolment request", "node", req.Node, "outcome", reply.Outcome, "reason", reply.Reason)
	b, err := json.Marshal(reply)
	if err != nil {
		s.log.Error("enrolment reply", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sess.Publish(ctx, session.Message{Topic: s.topics.EnrolReply(req.Node), QoS: 1, Payload: b}); err != nil {
		s.log.Warn("enrolment reply not published; the agent asks again", "node", req.Node, "err", err)
	}
}

// reserved reports whether id names no node: a scheduler, monitor or
// operator user, or an enrolment identity.
func (s *scheduler) reserved(id string) bool {
	if strings.HasPrefix(id, mqttd.EnrolUserPrefix) || id == s.cfg.Username {
		return true
	}
	for _, list := range [][]string{s.cfg.Embedded.MonitorUsers, s.cfg.Embedded.OperatorUsers} {
		for _, u := range list {
			if u == id {
				return true
			}
		}
	}
	return false
}

// handle decides req and, for a new enrolment, writes the node's
// credentials and reloads the broker. An error means nothing was
// answered; the token's use may have been spent.
func (e *enroller) handle(req protocol.EnrolRequest, reserved func(string) bool) (protocol.EnrolReply, error) {
	reply := protocol.EnrolReply{V: protocol.Version, Node: req.Node}
	if reserved(req.Node) {
		reply.Outcome, reply.Reason = protocol.EnrolRefused, "node id reserved for another role"
		return reply, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	creds, err := mqttd.LoadCredentials(e.creds)
	if err != nil {
		return reply, err
	}
	ex := enrol.Existing{Enrolled: creds.Has(req.Node)}
	ex.SameKey = ex.Enrolled && creds.Verify(req.Node, req.Password)
	var d enrol.Decision
	er := enrol.Request{Node: req.Node, Token: req.Token, Secret: req.Password}
	err = enrol.Update(e.file, func(st *enrol.State) error {
		ex.Revoked, ex.Approved = enrol.Has(st.Revoked, req.Node), enrol.Has(st.Approved, req.Node)
		id, _, _ := enrol.ParseToken(req.Token)
		tok := st.Token(id)
		d = enrol.Decide(e.now(), tok, er, ex)
		switch {
		case d.Outcome == enrol.Enrolled:
			if d.Use {
				tok.UsesLeft--
			}
			st.Enrolled(req.Node)
		case d.Outcome == enrol.Pending:
			st.SetPending(enrol.PendingNode{Node: req.Node, Token: id, Reason: d.Reason, Since: e.now().UTC().Round(0)})
		}
		return nil
	})
	if err != nil {
		return reply, err
	}
	reply.Reason = d.Reason
	switch d.Outcome {
	case enrol.Pending:
		reply.Outcome = protocol.EnrolPending
		return reply, nil
	case enrol.Refused:
		reply.Outcome = protocol.EnrolRefused
		return reply, nil
	}
	reply.Outcome = protocol.EnrolEnrolled
	if !ex.Enrolled {
		if _, err := mqttd.SetUsers(e.creds, []mqttd.User{{Name: req.Node, Password: req.Password}}); err != nil {
			return reply, err
		}
	}
	// Also for a repeated request: its first reply may have been lost
	// before the broker re-read the file.
	if err := e.reload(); err != nil {
		return reply, err
	}
	return reply, nil
}
