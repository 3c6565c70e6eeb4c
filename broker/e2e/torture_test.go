package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// flappingLink is a TCP proxy between agents and the broker that drops
// every connection and refuses new ones at random moments: the broker as a
// Pi on flaky Wi-Fi sees it.
type flappingLink struct {
	ln     net.Listener
	target string
	rng    *rand.Rand

	// upRate bounds what agents send through the link, bytes a second
	// (0: unbounded): a cellular uplink. Set it before the first call of
	// url, which starts the link: the accept loop reads it unlocked.
	upRate int
	start  sync.Once

	mu    sync.Mutex // guards up and conns
	up    bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newFlappingLink(t *testing.T, target string, seed uint64) *flappingLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &flappingLink{ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		ln.Close()
		l.setUp(false)
		l.wg.Wait()
	})
	return l
}

// url returns the link's address and starts carrying connections: a
// connection made before is held in the listener's backlog until then.
func (l *flappingLink) url() string {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.accept()
	})
	return "tcp://" + l.ln.Addr().String()
}

func (l *flappingLink) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if !l.up {
			l.mu.Unlock()
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", l.target)
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c], l.conns[b] = struct{}{}, struct{}{}
		l.wg.Add(2)
		l.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer l.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		if l.upRate > 0 {
			go func() {
				defer l.wg.Done()
				throttledCopy(b, c, l.upRate)
				b.Close()
				c.Close()
			}()
		} else {
			go pipe(b, c)
		}
		go pipe(c, b)
	}
}

// throttledCopy copies src to dst at about rate bytes a second, in chunks
// of a tenth of a second's worth.
func throttledCopy(dst io.Writer, src io.Reader, rate int) {
	buf := make([]byte, max(rate/10, 64))
	next := time.Now()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			next = next.Add(time.Duration(n) * time.Second / time.Duration(rate))
			if d := time.Until(next); d > 0 {
				time.Sleep(d) // kept: the link's rate is real time
			} else {
				next = time.Now()
			}
		}
		if err != nil {
			return
		}
	}
}

// setUp opens or cuts the link; cutting drops every connection through it.
func (l *flappingLink) setUp(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = up
	if !up {
		for c := range l.conns {
			c.Close()
			delete(l.conns, c)
		}
	}
}

// flap cuts and restores the link at random until ctx ends.
func (l *flappingLink) flap(ctx context.Context) {
	for {
		l.mu.Lock()
		d := time.Duration(200+l.rng.IntN(1500)) * time.Millisecond
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			l.setUp(true)
			return
		case <-time.After(d):
		}
		l.mu.Lock()
		up := !l.up
		l.mu.Unlock()
		l.setUp(up)
	}
}

// TestKill9Torture runs an agent behind a flapping link and SIGKILLs it at
// random moments, restarting it on the same data directory, for
// TORTURE_CYCLES cycles (default 60, about 60 s at a load average of ~10,
// 120 s at ~40; the soak, TETHER_SOAK or `make torture`, runs 2,000). It runs beside the package's other parallel
// tests (it has its own scheduler, link and data directory). After the
// last cycle the link is steady and the agent stops cleanly: the scheduler
// must then have applied every sequence number the agent's store ever made,
// each exactly once and in order — no gap, whatever it dropped as
// duplicates.
//
// What the store committed is recorded from outside the agent as well: a
// monitor on the broker keeps every report (each was durable before it was
// published) with its bytes. The run fails if a seq came with two
// different payloads (a store that lost its tail and handed the seqs out
// again), if a second store id appeared (a store moved aside as damaged),
// if a seq was seen that the final store does not know, and if fewer than a
// third of the kills landed after the store had opened (a run that only
// killed the agent while it started would prove little).
func TestKill9Torture(t *testing.T) {
	t.Parallel()
	cycles := 60
	if soak() {
		cycles = 2000
	}
	if v := os.Getenv("TORTURE_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TORTURE_CYCLES=%q", v)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TORTURE_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (TORTURE_SEED=%d replays the same kill and flap times)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	s := newSite(t)
	s.startScheduler()
	link := newFlappingLink(t, fmt.Sprintf("127.0.0.1:%d", s.port), seed)
	ctx, cancel := context.WithCancel(context.Background())
	flapped := make(chan struct{})
	go func() { link.flap(ctx); close(flapped) }()
	defer func() { cancel(); <-flapped }()

	ledger := newCommitLedger()
	topics, _ := protocol.NewTopics("default")
	monitor := connect(t, s, "monitor@e2e", "monitor")
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := monitor.Subscribe(sctx, topics.NodeMetrics("pi-torture"), 1, ledger.onMetrics); err != nil {
		t.Fatal(err)
	}

	args := []string{"--broker", link.url(), "--sample-interval", "100ms", "--send-all", "--keepalive", "5s"}
	opened := 0                   // cycles in which the store had opened before the kill
	storeIDs := map[string]bool{} // the store ids those runs opened
	for i := range cycles {
		a := s.startAgent("pi-torture", args...)
		if rng.IntN(2) == 0 {
			// Timed from the start: anywhere in the agent's start, the
			// store's open included, or in its first second of work.
			time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond) // kept: a random moment to kill at
		} else {
			// Timed from the store's open: while the agent writes and
			// sends. On a loaded machine the open alone can outlast the
			// first kind's delays, and ten kills in a row inside it look
			// like a store that crashes every open (see below).
			waitOutput(a, storeOpenedRE, 20*time.Second)
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond) // kept: as above
		}
		select {
		case <-a.done:
			t.Fatalf("cycle %d: the agent exited on its own: %v\n%s", i, a.err, a.out.String())
		default:
		}
		if m := storeOpenedRE.FindStringSubmatch(a.out.String()); m != nil {
			opened++
			storeIDs[m[1]] = true
		}
		seen := ledger.highest() // committed before this kill
		a.signal(syscall.SIGKILL)
		<-a.done
		if i%25 == 24 {
			t.Logf("%d cycles, committed reports seen up to seq %d", i+1, seen)
		}
	}
	cancel()
	<-flapped

	// Steady link: one last run that makes no new records (its first
	// sample would be an hour away) and only delivers what the store kept.
	final := s.startAgent("pi-torture", "--broker", link.url(), "--sample-interval", "1h", "--heartbeat", "2h")
	made, finalID := storeLastSeq(t, final)
	var row protocol.FleetNode
	s.waitFleet(60*time.Second, "backlog delivered", func(n map[string]protocol.FleetNode) bool {
		row = n["pi-torture"]
		return row.Seq >= made
	})
	final.signal(syscall.SIGTERM)
	if err := final.wait(t, 10*time.Second); err != nil {
		t.Fatalf("final agent did not stop cleanly: %v", err)
	}
	t.Logf("%d SIGKILLs (%d after the store had opened): the store made %d records; the scheduler applied up to seq %d with %d gaps and dropped %d duplicates",
		cycles, opened, made, row.Seq, row.Gaps, row.Dups)
	if row.Gaps != 0 || row.Seq != made {
		t.Errorf("the scheduler applied up to %d with %d gaps; the store made %d", row.Seq, row.Gaps, made)
	}
	for _, p := range ledger.check(finalID, made) {
		t.Error(p)
	}
	if len(storeIDs) > 1 {
		t.Errorf("the agent opened stores %v: one was moved aside", storeIDs)
	}
	if opened*3 < cycles {
		t.Errorf("only %d of %d kills landed after the store had opened", opened, cycles)
	}
}

// waitOutput waits until p's output matches re, p exits or within passes.
func waitOutput(p *proc, re *regexp.Regexp, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && !re.MatchString(p.out.String()) {
		select {
		case <-p.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

var storeOpenedRE = regexp.MustCompile(`msg="store opened".* store_id=(\S+) last_seq=(\d+)`)

// storeLastSeq reads the last sequence number the agent's store had made
// when it opened, and the store's id, from the agent's own log line.
func storeLastSeq(t *testing.T, p *proc) (uint64, string) {
	t.Helper()
	// An open after a hundred kills replays what they left; beside the
	// other parallel e2e tests on two cores it has taken over 10 s. The
	// test's claim is what the store kept, not how fast it opens
	// (pkg/kv's benchmarks and docs/durability.md measure that).
	start := time.Now()
	var m []string
	if !testenv.Within(60*time.Second, func() bool {
		m = storeOpenedRE.FindStringSubmatch(p.out.String())
		return m != nil
	}) {
		t.Fatalf("the agent did not log its store:\n%s", p.out.String())
	}
	n, _ := strconv.ParseUint(m[2], 10, 64)
	t.Logf("the final agent opened its store in %v", time.Since(start).Round(time.Millisecond))
	return n, m[1]
}
