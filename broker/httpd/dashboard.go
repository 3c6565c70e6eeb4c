package httpd

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// web holds the dashboard's page, script and style: everything the
// browser loads comes from the scheduler (no CDN), so it works on a site
// without internet access.
//
//go:embed web
var web embed.FS

// DashboardOptions turn on the live web dashboard at / on the same
// listener.
type DashboardOptions struct {
	// Login checks a user's password and returns the user's role; its
	// error is shown to the user (required).
	Login func(user, password string) (Role, error)
	// Changed calls fn with the row of every node changed since its last
	// call (required; Options.Fleet gives the rows to start from).
	Changed func(fn func(protocol.FleetNode))
	// Cancel asks the scheduler to cancel a task on behalf of user and
	// returns its refusal, if any (nil: cancelling is not offered).
	Cancel func(ctx context.Context, user, task string) error
	// Tick is how often changes are sent (DefaultTick).
	Tick time.Duration
}

// dashboard serves the page, the login and the live view.
type dashboard struct {
	opts     DashboardOptions
	log      *slog.Logger
	hub      *hub
	sessions *sessions
}

func newDashboard(o DashboardOptions, fleet FleetSource, log *slog.Logger) (*dashboard, error) {
	if o.Login == nil || o.Changed == nil {
		return nil, errors.New("httpd: the dashboard needs Login and Changed")
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	var seed []protocol.FleetNode
	if fleet != nil {
		seed = fleet.Table().Nodes
	}
	return &dashboard{opts: o, log: log, hub: newHub(seed, o.Changed, o.Tick), sessions: newSessions(o.Login)}, nil
}

func (d *dashboard) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(web, "web") // "web" is embedded above
	files := http.FileServerFS(static)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("POST /api/login", d.handleLogin)
	mux.HandleFunc("POST /api/logout", d.handleLogout)
	mux.HandleFunc("GET /api/me", d.handleMe)
	mux.HandleFunc("GET /api/events", d.handleEvents)
	mux.HandleFunc("POST /api/tasks/{id}/cancel", d.handleCancel)
}

// sseKeepAlive is how often an idle stream gets a comment, so proxies
// and the browser keep it open; every write moves the write deadline.
const sseKeepAlive = 15 * time.Second

// handleEvents streams the view: a snapshot, then deltas (event.go).
func (d *dashboard) handleEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.sessions.of(r); !ok {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ch, leave := d.hub.subscribe()
	defer leave()
	// retry: the browser reconnects after 1 s when the stream ends (the
	// scheduler restarted, or this client fell behind).
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok {
				return
			}
			rc.SetWriteDeadline(time.Now().Add(sseKeepAlive * 2))
			_, err = fmt.Fprintf(w, "data: %s\n\n", b)
		case <-keep.C:
			rc.SetWriteDeadline(time.Now().Add(sseKeepAlive * 2))
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// cancelTimeout bounds how long a cancel waits for the scheduler's answer.
const cancelTimeout = 10 * time.Second

// handleCancel cancels a task for an operator; a monitor is refused.
func (d *dashboard) handleCancel(w http.ResponseWriter, r *http.Request) {
	l, ok := d.sessions.of(r)
	switch {
	case !ok:
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	case !sameOrigin(r):
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	case l.role != RoleOperator:
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is a %s: only operators may cancel tasks", l.user, l.role))
		return
	case d.opts.Cancel == nil:
		writeError(w, http.StatusNotImplemented, "this scheduler does not take cancellations from the dashboard")
		return
	}
	id := r.PathValue("id")
	if err := protocol.ValidateID("task id", id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), cancelTimeout)
	defer cancel()
	if err := d.opts.Cancel(ctx, l.user, id); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	d.log.Info("task cancelled from the dashboard", "task", id, "user", l.user)
	writeJSON(w, http.StatusOK, map[string]string{"task": id, "state": task.StateCancelled})
}
