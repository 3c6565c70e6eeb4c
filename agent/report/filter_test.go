package report

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/pkg/protocol"
)

var t0 = time.Date(2024, 6, 3, 12, 0, 0, 0, time.UTC)

// idle is a Raspberry Pi 4 doing nothing much.
func idle() collect.Sample {
	return collect.Sample{
		CPU:      protocol.CPU{Total: 3, PerCore: []float64{4, 2, 3, 3}},
		Load:     &protocol.Load{M1: 0.1, M5: 0.12, M15: 0.1},
		Mem:      protocol.Mem{Total: 4 << 30, Available: 3 << 30, Used: 1 << 30, Percent: 25},
		Swap:     &protocol.Usage{Total: 200 << 20, Used: 6 << 20, Percent: 3},
		Disk:     &protocol.Disk{Path: "/var/lib/tether", Usage: protocol.Usage{Total: 32e9, Used: 11e9, Percent: 36}},
		Net:      &protocol.Net{RxBps: 1200, TxBps: 800},
		TempC:    map[string]float64{"cpu_thermal": 48.7},
		UptimeS:  23712,
		Throttle: &protocol.Throttle{},
	}
}

// with returns idle() changed by each mod.
func with(mods ...func(*collect.Sample)) collect.Sample {
	s := idle()
	for _, m := range mods {
		m(&s)
	}
	return s
}

func cpu(x float64) func(*collect.Sample)  { return func(s *collect.Sample) { s.CPU.Total = x } }
func mem(x float64) func(*collect.Sample)  { return func(s *collect.Sample) { s.Mem.Percent = x } }
func load(x float64) func(*collect.Sample) { return func(s *collect.Sample) { s.Load.M1 = x } }
func disk(x float64) func(*collect.Sample) { return func(s *collect.Sample) { s.Disk.Percent = x } }
func swap(x float64) func(*collect.Sample) { return func(s *collect.Sample) { s.Swap.Percent = x } }
func net(rx, tx float64) func(*collect.Sample) {
	return func(s *collect.Sample) { *s.Net = protocol.Net{RxBps: rx, TxBps: tx} }
}
func temp(k string, c float64) func(*collect.Sample) {
	return func(s *collect.Sample) { s.TempC[k] = c }
}
func throttle(t protocol.Throttle) func(*collect.Sample) {
	return func(s *collect.Sample) { *s.Throttle = t }
}
func drop(field string) func(*collect.Sample) {
	return func(s *collect.Sample) {
		switch field {
		case "load":
			s.Load = nil
		case "swap":
			s.Swap = nil
		case "disk":
			s.Disk = nil
		case "net":
			s.Net = nil
		case "temp":
			s.TempC = nil
		case "throttle":
			s.Throttle = nil
		}
	}
}

// step is one sample through the filter. A sample decided Send is
// reported Sent, as the agent does once it is queued, unless its send is
// one the test case fails.
type step struct {
	at   time.Duration // since t0
	s    collect.Sample
	want Decision
}

var (
	first     = Decision{Send: true, Reason: ReasonFirst}
	heartbeat = Decision{Send: true, Heartbeat: true, Reason: ReasonHeartbeat}
	quiet     = Decision{}
)

func send(r Reason) Decision { return Decision{Send: true, Reason: r} }

func TestFilter(t *testing.T) {
	tests := []struct {
		name  string
		t     Thresholds
		steps []step
		fail  []int // steps whose send fails: Sent is not called
	}{
		{
			name: "first sample always sent",
			t:    Thresholds{CPU: Change{Abs: 1000}, Heartbeat: time.Hour},
			steps: []step{
				{0, idle(), first},
				{time.Second, idle(), quiet},
			},
		},
		{
			name: "idle jitter stays quiet",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(cpu(5.5), load(0.3), temp("cpu_thermal", 49.2), net(3000, 1900)), quiet},
				{2 * time.Second, with(cpu(1), mem(27), disk(36.4), swap(4), temp("cpu_thermal", 47.9), net(9000, 100)), quiet},
				{3 * time.Second, with(func(s *collect.Sample) { s.CPU.PerCore = []float64{100, 0, 0, 0} }), quiet}, // per core alone
				{4 * time.Second, with(func(s *collect.Sample) { s.UptimeS += 1000 }), quiet},
			},
		},
		{
			name: "thresholds are inclusive",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(cpu(12.99)), quiet},
				{2 * time.Second, with(cpu(13)), send(ReasonCPU)},
				{3 * time.Second, with(cpu(3)), send(ReasonCPU)}, // down counts too
			},
		},
		{
			name: "slow drift is reported once it adds up",
			t:    DefaultThresholds(),
			steps: []step{
				{0, with(cpu(10)), first},
				{1 * time.Second, with(cpu(13)), quiet},
				{2 * time.Second, with(cpu(16)), quiet},
				{3 * time.Second, with(cpu(19)), quiet},
				{4 * time.Second, with(cpu(22)), send(ReasonCPU)}, // 12 points from the last sent
				{5 * time.Second, with(cpu(25)), quiet},           // 3 from the new reference
				{6 * time.Second, with(cpu(31)), quiet},
				{7 * time.Second, with(cpu(32)), send(ReasonCPU)},
			},
		},
		{
			name: "heartbeat after the silence",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{30 * time.Second, idle(), quiet},
				{59*time.Second + 999*time.Millisecond, idle(), quiet},
				{60 * time.Second, idle(), heartbeat},
				{61 * time.Second, idle(), quiet}, // the heartbeat restarted the silence
				{119 * time.Second, idle(), quiet},
				{120 * time.Second, idle(), heartbeat},
			},
		},
		{
			name: "a change restarts the silence",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{50 * time.Second, with(cpu(50)), send(ReasonCPU)},
				{60 * time.Second, with(cpu(50)), quiet},
				{110 * time.Second, with(cpu(50)), heartbeat},
			},
		},
		{
			name: "a failed send keeps the old reference",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(cpu(50)), send(ReasonCPU)},
				{2 * time.Second, with(cpu(50)), send(ReasonCPU)},
				{62 * time.Second, with(cpu(50)), heartbeat},
				{63 * time.Second, with(cpu(50)), heartbeat},
				{64 * time.Second, with(cpu(50)), quiet},
			},
			fail: []int{1, 3},
		},
		{
			name: "a failed first send is retried as first",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, idle(), first},
				{2 * time.Second, idle(), quiet},
			},
			fail: []int{0},
		},
		{
			name: "clock stepped back",
			t:    DefaultThresholds(),
			steps: []step{
				{time.Hour, idle(), first},
				{0, idle(), heartbeat},
				{time.Second, idle(), quiet},
			},
		},
		{
			name: "any throttle flag change is sent, whatever the thresholds",
			t:    Thresholds{CPU: Change{Abs: 1000}, Mem: Change{Abs: 1000}, Heartbeat: time.Hour},
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(throttle(protocol.Throttle{Raw: 0x50005, Undervoltage: true, Throttled: true,
					UndervoltageOccurred: true, ThrottledOccurred: true})), send(ReasonThrottle)},
				{2 * time.Second, with(throttle(protocol.Throttle{Raw: 0x50000,
					UndervoltageOccurred: true, ThrottledOccurred: true})), send(ReasonThrottle)},
				{3 * time.Second, with(throttle(protocol.Throttle{Raw: 0x50020, // an unknown bit: Raw only
					UndervoltageOccurred: true, ThrottledOccurred: true})), quiet},
				{4 * time.Second, with(throttle(protocol.Throttle{Raw: 0x50008, SoftTempLimit: true,
					UndervoltageOccurred: true, ThrottledOccurred: true})), send(ReasonThrottle)},
				{5 * time.Second, with(drop("throttle")), send(ReasonThrottle)},
				{6 * time.Second, with(drop("throttle")), quiet},
				{7 * time.Second, idle(), send(ReasonThrottle)},
			},
		},
		{
			name: "load: absolute floor and relative band",
			t:    DefaultThresholds(),
			steps: []step{
				{0, with(load(0.1)), first},
				{1 * time.Second, with(load(0.5)), quiet}, // 400% up, but under half a core
				{2 * time.Second, with(load(0.6)), send(ReasonLoad)},
				{3 * time.Second, with(load(4)), send(ReasonLoad)},
				{4 * time.Second, with(load(4.9)), quiet}, // 0.9: over 0.5, under 25% of 4
				{5 * time.Second, with(load(5)), send(ReasonLoad)},
				{6 * time.Second, with(drop("load")), send(ReasonLoad)},
			},
		},
		{
			name: "network: relative band with a 10 KiB/s floor, each direction",
			t:    DefaultThresholds(),
			steps: []step{
				{0, with(net(1024, 1024)), first},
				{1 * time.Second, with(net(10*1024, 1024)), quiet}, // 900% up, but 9 KiB/s
				{2 * time.Second, with(net(100*1024, 1024)), send(ReasonNet)},
				{3 * time.Second, with(net(140*1024, 1024)), quiet}, // +40%
				{4 * time.Second, with(net(150*1024, 1024)), send(ReasonNet)},
				{5 * time.Second, with(net(150*1024, 20*1024)), send(ReasonNet)}, // transmit alone
				{6 * time.Second, with(net(70*1024, 20*1024)), send(ReasonNet)},  // −53%
				{7 * time.Second, with(drop("net")), send(ReasonNet)},
				{8 * time.Second, with(drop("net")), quiet},
			},
		},
		{
			name: "temperature: any sensor, and sensors coming and going",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(temp("cpu_thermal", 50.6)), quiet},
				{2 * time.Second, with(temp("cpu_thermal", 50.7)), send(ReasonTemp)},
				{3 * time.Second, with(temp("cpu_thermal", 50.7), temp("nvme", 40)), send(ReasonTemp)},
				{4 * time.Second, with(temp("cpu_thermal", 50.7), temp("nvme", 38.1)), quiet},
				{5 * time.Second, with(temp("cpu_thermal", 50.7), temp("nvme", 37)), send(ReasonTemp)},
				{6 * time.Second, with(temp("cpu_thermal", 50.7)), send(ReasonTemp)},
				{7 * time.Second, with(drop("temp")), send(ReasonTemp)},
				{8 * time.Second, with(drop("temp")), quiet},
			},
		},
		{
			name: "memory, swap and disk",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{1 * time.Second, with(mem(29.9), swap(7.9), disk(36.9)), quiet},
				{2 * time.Second, with(mem(30)), send(ReasonMem)},
				{3 * time.Second, with(mem(30), swap(8)), send(ReasonSwap)},
				{4 * time.Second, with(mem(30), swap(8), disk(37)), send(ReasonDisk)},
				{5 * time.Second, with(mem(30), disk(37), drop("swap")), send(ReasonSwap)}, // swapoff
				{6 * time.Second, with(mem(30), swap(8)), send(ReasonSwap | ReasonDisk)},   // swapon
				{7 * time.Second, with(mem(30), swap(8), drop("disk")), send(ReasonDisk)},
			},
		},
		{
			name: "every reason at once",
			t:    DefaultThresholds(),
			steps: []step{
				{0, idle(), first},
				{time.Second, with(cpu(90), load(3.9), mem(80), swap(50), disk(90), net(1e6, 1e6),
					temp("cpu_thermal", 82), throttle(protocol.Throttle{Raw: 4, Throttled: true})),
					send(ReasonThrottle | ReasonCPU | ReasonLoad | ReasonMem | ReasonSwap | ReasonDisk | ReasonNet | ReasonTemp)},
			},
		},
		{
			name: "send everything",
			t:    SendEverything(),
			steps: []step{
				{0, idle(), first},
				{time.Second, with(cpu(3.01)), send(ReasonCPU)},
				{2 * time.Second, with(cpu(3.01)), heartbeat}, // identical: sent all the same
				{2 * time.Second, with(cpu(3.01)), heartbeat}, // even at the same instant
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.t.Validate(); err != nil {
				t.Fatal(err)
			}
			f := NewFilter(tt.t)
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				got := f.Decide(st.s, now)
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Fatalf("step %d at %v (-want +got):\n%s", i, st.at, diff)
				}
				if got.Send && !slices.Contains(tt.fail, i) {
					f.Sent(st.s, now)
				}
			}
		})
	}
}

func TestReset(t *testing.T) {
	f := NewFilter(DefaultThresholds())
	f.Sent(idle(), t0)
	if d := f.Decide(idle(), t0.Add(time.Second)); d.Send {
		t.Fatalf("before Reset: %+v, want quiet", d)
	}
	f.Reset()
	if d := f.Decide(idle(), t0.Add(2*time.Second)); d != first {
		t.Errorf("after Reset: %+v, want %+v", d, first)
	}
}

func TestSentCopiesTheSample(t *testing.T) {
	f := NewFilter(DefaultThresholds())
	s := idle()
	f.Sent(s, t0)
	// The caller reuses or changes what it sent: the reference must not move.
	s.TempC["cpu_thermal"] = 90
	s.Load.M1 = 9
	s.Net.RxBps = 1e9
	if d := f.Decide(idle(), t0.Add(time.Second)); d.Send {
		t.Errorf("Decide = %+v after the sent sample was changed, want quiet", d)
	}
}

func TestChange(t *testing.T) {
	tests := []struct {
		c         Change
		last, cur float64
		want      bool
	}{
		{Change{}, 1, 1, false},
		{Change{}, 1, 1.0000001, true},
		{Change{Abs: 10}, 50, 60, true},
		{Change{Abs: 10}, 50, 40, true},
		{Change{Abs: 10}, 50, 59.9, false},
		{Change{Rel: 0.5}, 100, 150, true},
		{Change{Rel: 0.5}, 100, 149, false},
		{Change{Rel: 0.5}, 0, 0.001, true}, // relative to zero: any change
		{Change{Rel: 0.5}, -10, -4, true},  // magnitude of a negative last
		{Change{Abs: 5, Rel: 0.5}, 0, 4, false},
		{Change{Abs: 5, Rel: 0.5}, 0, 5, true},
		{Change{Abs: 5, Rel: 0.5}, 100, 140, false},
	}
	for _, tt := range tests {
		if got := tt.c.Changed(tt.last, tt.cur); got != tt.want {
			t.Errorf("%+v.Changed(%v, %v) = %v, want %v", tt.c, tt.last, tt.cur, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultThresholds().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := SendEverything().Validate(); err != nil {
		t.Errorf("send everything: %v", err)
	}
	bad := []Thresholds{
		{Heartbeat: -time.Second},
		{CPU: Change{Abs: -1}},
		{Net: Change{Rel: -0.5}},
	}
	for _, b := range bad {
		if err := b.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", b)
		}
	}
}

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{0, "none"},
		{ReasonFirst, "first"},
		{ReasonHeartbeat, "heartbeat"},
		{ReasonCPU | ReasonTemp, "cpu,temp"},
		{ReasonTemp | ReasonThrottle | ReasonNet, "throttle,net,temp"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Reason(%#x).String() = %q, want %q", uint16(tt.r), got, tt.want)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	f := NewFilter(DefaultThresholds())
	s := with(temp("nvme", 40), temp("coretemp_package_id_0", 55))
	f.Sent(s, t0)
	now := t0
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		if d := f.Decide(s, now); d.Send {
			f.Sent(s, now)
		}
	})
	if allocs != 0 {
		t.Errorf("Decide and Sent allocate %v times, want 0", allocs)
	}
}
