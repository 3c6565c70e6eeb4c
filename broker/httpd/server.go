package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-edge/tether/pkg/task"
)

// DefaultPerNodeLimit bounds the per-node series: 10,000 nodes × 11 series
// is ~110k series, what one Prometheus holds comfortably for a region.
const DefaultPerNodeLimit = 10000

// Options configure a Server; zero values take the defaults in parentheses.
type Options struct {
	// Addr is the listen address, e.g. "127.0.0.1:9883" (required).
	Addr   string
	Logger *slog.Logger // (discard)
	// Fleet, Broker and Tasks feed /metrics; nil ones are left out.
	Fleet  FleetSource
	Broker func() BrokerStats
	Tasks  func() TaskStats
	// PerNodeLimit caps the nodes with per-node series (DefaultPerNodeLimit;
	// negative: no cap).
	PerNodeLimit int
	// Ready reports why the scheduler cannot serve yet (nil: ready):
	// /readyz answers 503 with it.
	Ready func() error
	// Dashboard, if set, serves the live web dashboard at /.
	Dashboard *DashboardOptions
	// NodeTier returns a node's tier for the placement counters (nil or
	// empty: "unknown"). Task metrics come from TaskChanged.
	NodeTier func(node string) string
	// Leader, for a highly available scheduler, says whether it acts for
	// the region and in which epoch (0 standing by): the gauges
	// tether_scheduler_acting and tether_scheduler_epoch. Nil: neither.
	Leader func() (acting bool, epoch uint64)
	// SelfProbe reports the scheduler's self-probes that did not come
	// back and the connections it dropped for them: the counters
	// tether_scheduler_self_probe_misses_total and
	// tether_scheduler_self_probe_redials_total. Nil: neither.
	SelfProbe func() (misses, redials uint64)
	// Pprof also serves net/http/pprof's handlers under /debug/pprof/.
	Pprof bool
	// RowsHeld reports how many fleet rows were due at the last publication
	// pass but held back by the row budget (fleet_row_budget): the gauge
	// tether_fleet_rows_held. Nil: none.
	RowsHeld func() int64
}

// Server serves /metrics, /healthz and /readyz, and the dashboard.
type Server struct {
	opts  Options
	ln    net.Listener
	srv   *http.Server
	ready chan struct{}
	dash  *dashboard // nil without Options.Dashboard
	tasks *taskMetrics
}

// New listens on opts.Addr; Run serves.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		return nil, errors.New("httpd: no listen address")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PerNodeLimit == 0 {
		opts.PerNodeLimit = DefaultPerNodeLimit
	}
	var dash *dashboard
	if opts.Dashboard != nil {
		var err error
		if dash, err = newDashboard(*opts.Dashboard, opts.Fleet, opts.Logger.With("component", "dashboard")); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	tm := newTaskMetrics(opts.NodeTier)
	reg := prometheus.NewRegistry()
	reg.MustRegister(tm.collectors()...)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{fleet: opts.Fleet, broker: opts.Broker, tasks: opts.Tasks, perNodeLimit: opts.PerNodeLimit},
	)
	if l := opts.Leader; l != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_scheduler_acting",
				Help: "1 while this scheduler holds its region's lease and acts, 0 while it stands by (ha)."},
				func() float64 {
					if acting, _ := l(); acting {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_scheduler_epoch",
				Help: "The leadership epoch this scheduler acts in; 0 while it stands by (ha)."},
				func() float64 { _, e := l(); return float64(e) }),
		)
	}
	if p := opts.SelfProbe; p != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_scheduler_self_probe_misses_total",
				Help: "Messages the scheduler sent itself that did not come back through the broker within self_probe."},
				func() float64 { m, _ := p(); return float64(m) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_scheduler_self_probe_redials_total",
				Help: "Connections the scheduler dropped, for the next broker, because its self-probes did not come back."},
				func() float64 { _, r := p(); return float64(r) }),
		)
	}
	if h := opts.RowsHeld; h != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_fleet_rows_held",
			Help: "Fleet rows due at the last publication pass that the row budget (fleet_row_budget) held back."},
			func() float64 { return float64(h()) }))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn), MaxRequestsInFlight: 2, Timeout: 30 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready:", err)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if dash != nil {
		dash.routes(mux)
	}
	s := &Server{opts: opts, ln: ln, ready: make(chan struct{}), dash: dash, tasks: tm}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	hubDone := make(chan struct{})
	hubCtx, stopHub := context.WithCancel(ctx)
	defer func() {
		stopHub()
		<-hubDone
	}()
	if s.dash != nil {
		go func() {
			defer close(hubDone)
			s.dash.hub.run(hubCtx)
		}()
		s.opts.Logger.Info("dashboard serving", "url", "http://"+s.ln.Addr().String()+"/")
	} else {
		close(hubDone)
	}
	s.opts.Logger.Info("http serving", "addr", s.ln.Addr().String(), "metrics", "http://"+s.ln.Addr().String()+"/metrics")
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	// The live streams end first: Shutdown does not wait for them.
	stopHub()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	<-errc
	return nil
}

// TaskChanged gives the task metrics and the dashboard a task's latest
// status, as the scheduler announced it (with its spec and attempts).
func (s *Server) TaskChanged(st task.Status) {
	s.tasks.observe(st)
	if s.dash != nil {
		s.dash.hub.taskChanged(st)
	}
}
