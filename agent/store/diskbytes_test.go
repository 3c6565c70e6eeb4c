package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDiskBytesPerHour measures what the store makes the kernel write
// (write_bytes of /proc/self/io, which counts pages dirtied through the
// store's mmaps too) with the store open and Run running: idle, then
// journaling 10 task events a second, each with a 200-byte checkpoint and
// acknowledged a second later as the uplink would, then appending a 700-byte
// metrics report a second, acknowledged at once. It runs only with
// TETHER_MEASURE_DISK=<seconds per phase> (60 gives steady numbers).
func TestDiskBytesPerHour(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("TETHER_MEASURE_DISK"))
	if secs <= 0 {
		t.Skip("set TETHER_MEASURE_DISK=<seconds per phase> to measure")
	}
	phase := time.Duration(secs) * time.Second
	s, _, err := Open(filepath.Join(t.TempDir(), "store"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	time.Sleep(time.Second) // kept: a measurement in real time; the open's own writes settle

	w0 := writeBytes(t)
	time.Sleep(phase) // kept: the bytes an idle store writes in a real phase are the measurement
	idle := writeBytes(t) - w0

	w0 = writeBytes(t)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var acks []uint64
	for end := time.Now().Add(phase); time.Now().Before(end); {
		<-tick.C
		st, _, _ := s.TaskState("job")
		r, err := s.Journal(ctx, "job", Transition{Attempt: 1, From: st.State, To: "running", At: time.Now()},
			make([]byte, 200), sized("tether/v1/r/tasks/job/status", 300))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, r.Seq)
		if len(acks) > 10 { // PUBACKs a second behind
			_ = s.Ack(acks[0])
			acks = acks[1:]
		}
	}
	busy := writeBytes(t) - w0

	w0 = writeBytes(t)
	for end := time.Now().Add(phase); time.Now().Before(end); {
		time.Sleep(time.Second) // kept: one report a second of real time, as an agent sends them
		r, err := s.Append(ctx, KindMetrics, sized("tether/v1/r/nodes/n/metrics", 700))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Ack(r.Seq - 1)
	}
	metrics := writeBytes(t) - w0
	perHour := func(b int64) string {
		return fmt.Sprintf("%.1f MiB/hour", float64(b)/(1<<20)*float64(time.Hour)/float64(phase))
	}
	t.Logf("DISK idle: %s; journaling 10 events/s: %s; metrics 1/s: %s (%d commits in all)",
		perHour(idle), perHour(busy), perHour(metrics), s.Commits())
}

func writeBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no write_bytes in /proc/self/io")
	return 0
}
