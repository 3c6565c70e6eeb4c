package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// counter is a byte counter safe for concurrent use.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add(n int64) {
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
}

func (c *counter) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Tether runs on.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	rss int64         // bytes
	cpu time.Duration // user + system since start
}

func readProc(pid int) (procSample, error) {
	var s procSample
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = time.Duration(u+k) * time.Second / clockTicks
	return s, nil
}

// loadAvg is the first field of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return f[0] + " " + f[1] + " " + f[2]
}

// sampler reads the watched processes every second and keeps each one's
// peak RSS.
type sampler struct {
	pids map[string]int
	mu   sync.Mutex // guards peak and last
	peak map[string]int64
	last map[string]procSample
}

func newSampler(pids map[string]int) *sampler {
	s := &sampler{pids: map[string]int{"loadgen": os.Getpid()}, peak: map[string]int64{}, last: map[string]procSample{}}
	for k, v := range pids {
		s.pids[k] = v
	}
	return s
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.read()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) read() map[string]procSample {
	out := map[string]procSample{}
	for name, pid := range s.pids {
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		out[name] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range out {
		s.peak[name] = max(s.peak[name], p.rss)
		s.last[name] = p
	}
	return out
}

func (s *sampler) peaks() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for k, v := range s.peak {
		out[k] = v
	}
	return out
}
