package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/broker/httpd"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// The web dashboard (broker/httpd) runs on the HTTP listener. Its users
// are the embedded broker's: a password is checked against the
// credentials file (read again at each login, so `passwd add` needs no
// reload), and the role comes from monitor_users and operator_users.
// Its view is fed from what the scheduler already has: the fleet's
// changed rows, and the retained task statuses the scheduler announces,
// read back from the broker. An operator's cancel is a control request
// like the CLI's, answered on the scheduler's own replies topic.

// dashboardOptions are the dashboard's hooks into the scheduler.
func (s *scheduler) dashboardOptions() *httpd.DashboardOptions {
	return &httpd.DashboardOptions{
		Login: s.dashboardLogin,
		Changed: func(fn func(protocol.FleetNode)) {
			s.fleet.Drain(fleet.ForDashboard, func(n fleet.Node) { fn(fleet.Row(n)) })
		},
		Cancel: s.cancelTask,
	}
}

// dashboardLogin checks user's password and returns the user's role.
func (s *scheduler) dashboardLogin(user, password string) (httpd.Role, error) {
	file := s.cfg.Embedded.CredentialsFile
	if file == "" {
		return "", errors.New("the dashboard checks passwords in the embedded broker's credentials file, and none is configured")
	}
	creds, err := mqttd.LoadCredentials(file)
	if err != nil {
		s.log.Error("dashboard login: credentials file unreadable", "err", err)
		return "", errors.New("the scheduler cannot read its credentials file")
	}
	if !creds.Verify(user, password) {
		return "", errors.New("wrong user or password")
	}
	switch {
	case slices.Contains(s.cfg.Embedded.OperatorUsers, user):
		return httpd.RoleOperator, nil
	case slices.Contains(s.cfg.Embedded.MonitorUsers, user):
		return httpd.RoleMonitor, nil
	}
	return "", fmt.Errorf("%s is neither a monitor nor an operator user (monitor_users, operator_users)", user)
}

// replies are the answers the scheduler awaits on its own replies topic,
// by request id.
type replies struct {
	mu      sync.Mutex // guards waiting
	waiting map[string]chan task.Reply
}

func (r *replies) await(id string) (<-chan task.Reply, func()) {
	ch := make(chan task.Reply, 1)
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = map[string]chan task.Reply{}
	}
	r.waiting[id] = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}
}

func (r *replies) handle(m session.Message) {
	rep, err := task.DecodeReply(m.Payload)
	if err != nil {
		return
	}
	r.mu.Lock()
	ch := r.waiting[rep.RequestID]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- rep:
		default:
		}
	}
}

// dashboardSubscribe subscribes to the scheduler's replies (the
// dashboard's answers and the self-probes) and, with the HTTP listener, to
// what the dashboard shows and the task metrics count: every task's
// retained status.
func (s *scheduler) dashboardSubscribe(ctx context.Context) error {
	if err := s.sess.Subscribe(ctx, s.topics.Replies(s.cfg.Username), 1, s.replies.handle); err != nil {
		return err
	}
	if s.http == nil {
		return nil
	}
	return s.sess.Subscribe(ctx, s.topics.AllTaskStatus(), 1, func(m session.Message) {
		if st, err := task.DecodeStatus(m.Payload); err == nil {
			s.http.TaskChanged(st)
		}
	})
}

// cancelTask cancels a task for a dashboard operator, as the CLI's
// cancel does, and returns the scheduler's refusal if any.
func (s *scheduler) cancelTask(ctx context.Context, user, id string) error {
	var b [8]byte
	rand.Read(b[:])
	req := task.ControlRequest{V: task.Version, RequestID: "dashboard-" + hex.EncodeToString(b[:]), Op: task.OpCancel, Task: id}
	req.ReplyTo = s.topics.Reply(s.cfg.Username, req.RequestID)
	payload, err := json.Marshal(req)
	if err != nil {
		return err
	}
	reply, done := s.replies.await(req.RequestID)
	defer done()
	s.log.Info("cancel asked from the dashboard", "task", id, "user", user)
	if err := s.tasks.HandleControl(payload); err != nil {
		return err
	}
	select {
	case r := <-reply:
		if !r.OK {
			return errors.New(r.Error)
		}
		return nil
	case <-ctx.Done():
		return errors.New("the scheduler did not answer in time; the task may still be cancelled")
	}
}
