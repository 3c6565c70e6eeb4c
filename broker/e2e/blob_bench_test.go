package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
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
