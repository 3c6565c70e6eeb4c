package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// Telling a crash inside Open from a kill inside it (docs/durability.md,
// Recovery 6). The opening marker counts opens that never returned, but a
// process killed there — by a supervisor, the OOM killer, a kill -9 loop on
// a loaded machine where Open is slow — leaves the same count as one that
// crashed there. So at p.MaxIncompleteOpens Open does not move the store
// aside on the count alone: it opens the store in a child process, a copy
// of the program started in probe mode, and moves the store aside only if
// that child crashed opening it. A child killed by a signal that is not a
// crash (SIGKILL, SIGTERM, SIGINT, SIGHUP — or the parent's death, which
// kills it) decides nothing: the count stays and the store is opened.

// probeEnv carries a probe's request (JSON of probeRequest) to the child.
const probeEnv = "TETHER_KV_PROBE"

// probeExitUnusable is a probe child's exit status when it could not make
// sense of its request: it says nothing about the store.
const probeExitUnusable = 125

type probeRequest struct {
	Dir     string  `json:"dir"`
	Profile Profile `json:"profile"`
}

// A ProbeCheck is the check a probe process runs once Badger opened the
// store in dir with profile p: the check the program gives OpenChecked for
// that store (nil: none).
type ProbeCheck func(dir string, p Profile, db *badger.DB) error

// prober is the executable Open starts as a probe: "" until ServeProbe.
var prober struct {
	mu   sync.Mutex
	path string
}

// ServeProbe lets Open probe opens in a child process, and serves the probe
// when this process is such a child. A program that opens stores calls it
// first thing in main (a test binary in TestMain), before anything a probe
// must not do. In a probe child it opens the requested store, runs check,
// and exits without returning — status 0 when Open returned (opened or
// failed cleanly), Go's own status or signal when it crashed. Otherwise it
// records this program's executable for Open and returns.
//
// Without ServeProbe a program's Open cannot tell a crash from a kill and
// never moves a store aside for unfinished opens: it opens it again.
func ServeProbe(check ProbeCheck) {
	if req, ok := os.LookupEnv(probeEnv); ok {
		os.Exit(serveProbe(req, check))
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	prober.mu.Lock()
	prober.path = exe
	prober.mu.Unlock()
}

// serveProbe runs one probe in this process and returns its exit status.
// The store is not closed: what the count is about is Open returning, and
// a Close on a nearly full disk can fault in Badger's flush.
func serveProbe(req string, check ProbeCheck) int {
	var r probeRequest
	if err := json.Unmarshal([]byte(req), &r); err != nil || r.Dir == "" {
		fmt.Fprintf(os.Stderr, "store probe: unusable request %q\n", req)
		return probeExitUnusable
	}
	if err := r.Profile.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "store probe: %v\n", err)
		return probeExitUnusable
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var c func(*badger.DB) error
	if check != nil {
		c = func(db *badger.DB) error { return check(r.Dir, r.Profile, db) }
	}
	if _, _, err := tryOpen(r.Dir, r.Profile, log, c); err != nil {
		fmt.Fprintf(os.Stderr, "store probe: open returned: %v\n", err)
	}
	return 0
}

// probeVerdict is what a probe says about the store.
type probeVerdict int

const (
	probeUndecided probeVerdict = iota // no probe, or its child was killed
	probeOpened                        // Open returned in the child
	probeCrashed                       // the child crashed inside Open
)

// probeOpen opens dir with p in a child process and says how that went,
// with a line for people (the child's first words when it crashed).
func probeOpen(dir string, p Profile) (probeVerdict, string) {
	prober.mu.Lock()
	exe := prober.path
	prober.mu.Unlock()
	if exe == "" {
		return probeUndecided, "this program cannot probe an open in a separate process (no kv.ServeProbe)"
	}
	req, err := json.Marshal(probeRequest{Dir: dir, Profile: p})
	if err != nil {
		return probeUndecided, fmt.Sprintf("probe request: %v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), probeEnv+"="+string(req))
	var stderr headBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = probeAttr()
	// The child dies with the thread that started it (Pdeathsig, where
	// there is one): that thread must be this goroutine's until Wait.
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	return judgeProbe(err, stderr.String())
}

// judgeProbe turns how a probe child ended into a verdict.
func judgeProbe(err error, stderr string) (probeVerdict, string) {
	if err == nil {
		return probeOpened, ""
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return probeUndecided, fmt.Sprintf("starting the probe: %v", err)
	}
	what := firstWords(stderr)
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		switch sig := ws.Signal(); sig {
		case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE:
			return probeUndecided, fmt.Sprintf("the probe was killed (%v)", sig)
		default: // SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGSYS, SIGTRAP...
			return probeCrashed, strings.TrimSpace(fmt.Sprintf("%s (%v)", what, sig))
		}
	}
	if exit.ExitCode() == probeExitUnusable {
		return probeUndecided, what
	}
	return probeCrashed, strings.TrimSpace(fmt.Sprintf("%s (exit status %d)", what, exit.ExitCode()))
}

// firstWords returns the line of a crashed child's stderr that says why:
// Go's "panic:" or "fatal error:" line, else its first line.
func firstWords(s string) string {
	lines := strings.Split(s, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return strings.TrimSpace(l)
		}
	}
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// headBuffer keeps the first 8 KiB written to it: enough for Go's crash
// report's first lines, bounded whatever the child prints.
type headBuffer struct {
	b []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := 8<<10 - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }
