package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// BenchmarkAgentServesTwentyMB: a real agent serves a 20 MB blob to the
// scheduler's endpoint through the embedded broker on loopback; one op is
// one whole transfer (the fetching side's copy removed before each). It
// reports the throughput (SetBytes), the agent's CPU time per transfer
// and its resident memory: before the first transfer and its peak after.
//
//	go test -run '^$' -bench BenchmarkAgentServesTwentyMB -benchtime 5x ./broker/e2e/
func BenchmarkAgentServesTwentyMB(b *testing.B) {
	s := newSite(b)
	s.startScheduler()
	data := randomBytes(20<<20, 41)
	id := putAgentBlob(b, s, "pi-bench", data)
	agent := s.startAgent("pi-bench")
	s.waitFleet(20*time.Second, "node online", func(m map[string]protocol.FleetNode) bool { return m["pi-bench"].Online })
	p := newBlobPeer(b, s)
	pid := agent.cmd.Process.Pid
	rssBefore, _ := procStatusKB(pid, "VmRSS")
	cpuBefore := procCPU(b, pid)
	b.SetBytes(id.Size)
	b.ResetTimer()
	for range b.N {
		if err := p.store.Remove(id); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		st, err := p.ep.Fetch(ctx, "pi-bench", id)
		cancel()
		if err != nil || st.Written != id.Size || st.Retries != 0 {
			b.Fatalf("fetch: %+v, %v", st, err)
		}
	}
	b.StopTimer()
	cpu := procCPU(b, pid) - cpuBefore
	peak, _ := procStatusKB(pid, "VmHWM")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "agent-cpu-ms/op")
	b.ReportMetric(float64(rssBefore)/1024, "agent-rss-before-MiB")
	b.ReportMetric(float64(peak)/1024, "agent-rss-peak-MiB")
}

// BenchmarkNodeFetchesTwentyMB is the fetching side of the same transfer:
// a node's blob endpoint in this process — the agent's (pkg/blob's
// Endpoint.Fetch into a Store, with the agent's defaults, on a session
// with the node's credentials and topics) — fetches a 20 MB blob from the
// real scheduler's store through its embedded broker on loopback; one op
// is one whole verified transfer (the fetched copy removed before each).
// Only the fetcher runs in this process, so -benchmem's B/op and
// allocs/op and fetch-cpu-ms/op are the fetching side's; the scheduler's
// CPU per transfer (serving it, and the broker routing it) is
// scheduler-cpu-ms/op.
//
//	go test -run '^$' -bench BenchmarkNodeFetchesTwentyMB -benchtime 5x -benchmem ./broker/e2e/
func BenchmarkNodeFetchesTwentyMB(b *testing.B) {
	s := newSite(b)
	data := randomBytes(20<<20, 42)
	id := putSchedulerBlob(b, s, data)
	sched := s.startScheduler()
	// Ready: the scheduler's subscriptions, its blob topics among them,
	// are in force, so the first want is not lost before them.
	testenv.Eventually(b, 20*time.Second, "the scheduler ready", func() bool {
		return strings.Contains(sched.out.String(), `msg="scheduler ready"`)
	})
	f := newNodeFetcher(b, s, "pi-fetch")
	spid, self := sched.cmd.Process.Pid, os.Getpid()
	schedBefore, selfBefore := procCPU(b, spid), procCPU(b, self)
	b.SetBytes(id.Size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := f.store.Remove(id); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		st, err := f.ep.Fetch(ctx, "", id)
		cancel()
		if err != nil || st.Written != id.Size || st.Retries != 0 {
			b.Fatalf("fetch: %+v, %v", st, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((procCPU(b, self)-selfBefore).Milliseconds())/float64(b.N), "fetch-cpu-ms/op")
	b.ReportMetric(float64((procCPU(b, spid)-schedBefore).Milliseconds())/float64(b.N), "scheduler-cpu-ms/op")
}

// nodeFetcher is a node's blob store and endpoint, attached to the
// scheduler as the agent's are: over the node's own session, topics and
// ACL, with the agent's default store and endpoint options.
type nodeFetcher struct {
	store *blob.Store
	ep    *blob.Endpoint
}

func newNodeFetcher(b testing.TB, s *site, node string) *nodeFetcher {
	b.Helper()
	s.ensureUser(node)
	topics, _ := protocol.NewTopics("default")
	sess, err := session.New(session.Options{Brokers: []string{s.url()}, ClientID: node,
		Username: node, Password: s.password(node), CleanSession: true})
	if err != nil {
		b.Fatal(err)
	}
	st, err := blob.Open(blob.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ep, err := blob.NewEndpoint(blob.EndpointOptions{Store: st, Send: blob.NodeSend(sess, topics, node)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := blob.AttachNode(ctx, sess, topics, node, ep); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = sess.Run(ctx); done <- struct{}{} }()
	go func() { _ = ep.Run(ctx); done <- struct{}{} }()
	b.Cleanup(func() { cancel(); <-done; <-done; st.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		b.Fatal(err)
	}
	return &nodeFetcher{store: st, ep: ep}
}

// procCPU is a process's user and system CPU time (/proc/<pid>/stat).
func procCPU(b testing.TB, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (in parentheses, which may hold spaces):
	// state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}

// procStatusKB reads a kB field of /proc/<pid>/status (VmRSS, VmHWM).
func procStatusKB(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
