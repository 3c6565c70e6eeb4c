package serve

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// BenchmarkFleetMemory runs the real `tether-broker serve` (embedded
// broker) as a child process and connects N raw MQTT 3.1.1 sessions that
// speak the agent protocol's steady state: persistent session, will,
// command subscription, retained birth, QoS 1 metrics with store and seq
// every 10 s. It reports the child's RSS (steady, and peak after all
// sessions drop at once and reconnect), its CPU per minute over a steady
// minute, and the connect storm and mass reconnect times (until the
// scheduler's fleet summary says all online). One iteration is the whole
// run: go test -run X -bench 'FleetMemory/sessions=1000' -benchtime 1x ./broker/serve/
func BenchmarkFleetMemory(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			for b.Loop() {
				fleetMemory(b, n)
			}
		})
	}
}

func fleetMemory(b *testing.B, n int) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "tether-broker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tether-edge/tether/broker").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	creds := filepath.Join(dir, "credentials")
	var sb strings.Builder
	for _, u := range append([]string{"tether-scheduler", "monitor"}, nodeNames(n)...) {
		h, err := mqttd.HashPassword("pw")
		if err != nil {
			b.Fatal(err)
		}
		sb.WriteString(u + ":" + h + "\n")
	}
	if err := os.WriteFile(creds, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// FLEETMEM_MAX_PENDING_WRITES sets embedded.max_pending_writes and
	// FLEETMEM_GOMEMLIMIT the scheduler's GOMEMLIMIT, to compare sizings.
	conf := filepath.Join(dir, "tether.yaml")
	yaml := ""
	if v := os.Getenv("FLEETMEM_MAX_PENDING_WRITES"); v != "" {
		yaml = "embedded:\n  max_pending_writes: " + v + "\n"
	}
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", conf)
	cmd.Env = append(os.Environ(), "TETHER_REGION=default", "TETHER_PASSWORD=pw", "TETHER_MQTT_LISTEN="+addr,
		"TETHER_CREDENTIALS_FILE="+creds, "TETHER_TASKS_DIR="+filepath.Join(dir, "tasks"), "TETHER_LOG_LEVEL=warn")
	if v := os.Getenv("FLEETMEM_GOMEMLIMIT"); v != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+v)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	pid := cmd.Process.Pid

	topics, _ := protocol.NewTopics("default")
	online := watchOnline(b, addr, topics)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet := make([]*rawNode, n)
	for i, id := range nodeNames(n) {
		fleet[i] = &rawNode{id: id, addr: addr, topics: topics}
	}

	start := time.Now()
	connectAll(ctx, fleet)
	waitOnline(b, online, n, 5*time.Minute)
	b.ReportMetric(time.Since(start).Seconds(), "connect-s")

	time.Sleep(20 * time.Second) // kept: the process's memory is measured after it settles (births handled, first reports in)
	cpu0, t0 := procCPU(pid), time.Now()
	var steady uint64
	for time.Since(t0) < time.Minute {
		time.Sleep(5 * time.Second) // kept: a sample of the memory every 5 s through a real minute
		steady = max(steady, procStatus(pid, "VmRSS"))
	}
	b.ReportMetric((procCPU(pid)-cpu0)/time.Since(t0).Minutes(), "cpu-s/min")
	b.ReportMetric(float64(steady)/1024, "rss-steady-MiB")

	for _, nd := range fleet {
		nd.drop()
	}
	start = time.Now()
	connectAll(ctx, fleet)
	waitOnline(b, online, n, 5*time.Minute)
	b.ReportMetric(time.Since(start).Seconds(), "reconnect-s")
	time.Sleep(20 * time.Second) // kept: as above, the memory after the reconnect settles
	b.ReportMetric(float64(procStatus(pid, "VmHWM"))/1024, "rss-peak-MiB")
	b.ReportMetric(float64(procStatus(pid, "VmRSS"))/1024, "rss-after-MiB")
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("pi-%05d", i)
	}
	return out
}

// watchOnline reports the fleet summary's online count.
func watchOnline(b *testing.B, addr string, topics protocol.Topics) *atomic.Int64 {
	sess := dial(b, "tcp://"+addr, "monitor@mem", "monitor", "pw")
	var online atomic.Int64
	if err := sess.Subscribe(context.Background(), topics.FleetSummary(), 0, func(m session.Message) {
		var s protocol.FleetSummary
		if json.Unmarshal(m.Payload, &s) == nil {
			online.Store(int64(s.Online))
		}
	}); err != nil {
		b.Fatal(err)
	}
	return &online
}

func waitOnline(b *testing.B, online *atomic.Int64, n int, d time.Duration) {
	if !testenv.Within(d, func() bool { return online.Load() >= int64(n) }) {
		b.Fatalf("%d of %d online after %v", online.Load(), n, d)
	}
}

// connectAll connects every node, 200 at a time, as a fleet coming up.
func connectAll(ctx context.Context, fleet []*rawNode) {
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	for _, nd := range fleet {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for ctx.Err() == nil && nd.connect(ctx) != nil {
				time.Sleep(time.Second) // kept: a pause before a failed connect is tried again, as a device's backoff
			}
		}()
	}
	wg.Wait()
}

// procStatus returns a /proc/<pid>/status field in KiB.
func procStatus(pid int, field string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// procCPU returns the CPU seconds (user + system) pid has used.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// rawNode is one agent session over a bare TCP connection: MQTT 3.1.1
// written by hand, so 10,000 of them cost the load side little.
type rawNode struct {
	id     string
	addr   string
	topics protocol.Topics
	seq    uint64 // guarded by mu

	mu   sync.Mutex // guards seq, conn and pid
	conn net.Conn
	pid  uint16
}

func (r *rawNode) drop() {
	r.mu.Lock()
	if r.conn != nil {
		r.conn.Close()
	}
	r.mu.Unlock()
}

func (r *rawNode) header(seq uint64) protocol.Header {
	return protocol.Header{V: 1, Node: r.id, Instance: "i-" + r.id, Store: "s-" + r.id, Seq: seq, TS: time.Now()}
}

func (r *rawNode) connect(ctx context.Context) error {
	c, err := net.DialTimeout("tcp", r.addr, 10*time.Second)
	if err != nil {
		return err
	}
	r.mu.Lock()
	seq := r.seq
	r.mu.Unlock()
	will, _ := json.Marshal(protocol.NodeStatus{Header: r.header(seq), State: protocol.StateOffline, Reason: protocol.ReasonLost, Conn: 1})
	if _, err := c.Write(rawConnect(r.id, "pw", r.topics.NodeStatus(r.id), will)); err != nil {
		c.Close()
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
		c.Close()
		return fmt.Errorf("connack %x: %v", ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
	go r.read(c)
	_, _ = c.Write(rawSubscribe(1, r.topics.NodeCommands(r.id)))
	birth, _ := json.Marshal(protocol.NodeStatus{Header: r.header(seq), State: protocol.StateOnline, Conn: 1, HeartbeatS: 10,
		Facts: &protocol.Facts{Hostname: r.id, OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "load", Tier: "edge", TaskSlots: 2}})
	if err := r.publish(c, r.topics.NodeStatus(r.id), true, birth); err != nil {
		return err
	}
	go r.report(ctx, c)
	return nil
}

func (r *rawNode) publish(c net.Conn, topic string, retain bool, payload []byte) error {
	r.mu.Lock()
	r.pid++
	if r.pid == 0 {
		r.pid = 1
	}
	id := r.pid
	r.mu.Unlock()
	_, err := c.Write(rawPublish(topic, id, retain, payload))
	return err
}

// report sends metrics every 10 s, the first after a second.
func (r *rawNode) report(ctx context.Context, c net.Conn) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		r.seq++
		seq := r.seq
		r.mu.Unlock()
		m, _ := json.Marshal(protocol.Metrics{Header: r.header(seq), CPU: protocol.CPU{Total: float64(seq % 50)}, UptimeS: seq * 10,
			Mem: protocol.Mem{Percent: 40}})
		if r.publish(c, r.topics.NodeMetrics(r.id), false, m) != nil {
			return // the connection was dropped
		}
		t.Reset(10 * time.Second)
	}
}

// read acknowledges what the broker sends and ends with the connection.
func (r *rawNode) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		h, err := br.ReadByte()
		if err != nil {
			return
		}
		var n, mul int = 0, 1
		for {
			d, err := br.ReadByte()
			if err != nil {
				return
			}
			n += int(d&127) * mul
			if d < 128 {
				break
			}
			mul *= 128
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		if h>>4 == 3 && (h>>1)&3 == 1 { // PUBLISH QoS 1: PUBACK its id
			tl := int(binary.BigEndian.Uint16(body))
			if len(body) >= 4+tl {
				_, _ = c.Write([]byte{0x40, 2, body[2+tl], body[3+tl]})
			}
		}
	}
}

func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

func remaining(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 128
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}

// rawConnect: MQTT 3.1.1, persistent session, keepalive 60 s, a retained
// QoS 1 will, username = client id.
func rawConnect(id, pw, willTopic string, will []byte) []byte {
	var body []byte
	body = append(body, mqttString("MQTT")...)
	body = append(body, 4, 0xC0|0x20|0x08|0x04, 0, 60) // user, password, will retain, will QoS 1, will; clean session off
	body = append(body, mqttString(id)...)
	body = append(body, mqttString(willTopic)...)
	body = append(body, byte(len(will)>>8), byte(len(will)))
	body = append(body, will...)
	body = append(body, mqttString(id)...)
	body = append(body, mqttString(pw)...)
	return append(append([]byte{0x10}, remaining(len(body))...), body...)
}

func rawSubscribe(id uint16, filter string) []byte {
	body := []byte{byte(id >> 8), byte(id)}
	body = append(body, mqttString(filter)...)
	body = append(body, 1)
	return append(append([]byte{0x82}, remaining(len(body))...), body...)
}

func rawPublish(topic string, id uint16, retain bool, payload []byte) []byte {
	h := byte(0x32) // PUBLISH, QoS 1
	if retain {
		h |= 1
	}
	body := mqttString(topic)
	body = append(body, byte(id>>8), byte(id))
	body = append(body, payload...)
	return append(append([]byte{h}, remaining(len(body))...), body...)
}
