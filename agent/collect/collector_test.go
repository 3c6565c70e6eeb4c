package collect

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/tether-edge/tether/pkg/protocol"
)

func TestFacts(t *testing.T) {
	tests := []struct {
		tree string
		want protocol.Facts
	}{
		{"pi4", protocol.Facts{
			Hostname: "pi4-edge-01",
			Model:    "Raspberry Pi 4 Model B Rev 1.4",
			Platform: "debian 12.7",
			Kernel:   "6.6.51+rpt-rpi-v8",
			Cores:    4,
			MemTotal: 3882296 << 10,
			BootID:   "3f9c2a71-5b6e-4d8a-9e0f-1c2b3a4d5e6f",
			BootTime: time.Unix(1717401600, 0).UTC(),
		}},
		{"x86", protocol.Facts{
			Hostname: "nuc-lab-02",
			Model:    "NUC7i3BNH", // from DMI: no device tree
			Platform: "ubuntu 24.04",
			Kernel:   "6.8.0-45-generic",
			Cores:    4,
			MemTotal: 16243452 << 10,
			BootID:   "8d0e6b4c-2f1a-4c3e-b5d7-9a8f7e6d5c4b",
			BootTime: time.Unix(1717250000, 0).UTC(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			root := copyTree(t, tt.tree)
			c := newFixtureCollector(t, root, tt.tree, newFakeClock())
			got, err := c.Facts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.OS, want.Arch = runtime.GOOS, buildArch()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}

			// Cached: host.Info, the expensive call, runs once.
			writeFile(t, root, "proc/device-tree/model", "Renamed\x00")
			again, err := c.Facts(context.Background())
			if diff := cmp.Diff(want, again); err != nil || diff != "" {
				t.Errorf("second Facts: err %v, differs from the cached (-want +got):\n%s", err, diff)
			}
			if n := c.sys.(fixtureSystem).infoCalls.Load(); n != 1 {
				t.Errorf("host.Info called %d times, want 1", n)
			}
		})
	}
}

func TestFactsOptionalMissing(t *testing.T) {
	// No device tree, no boot id, and host.Info failing: what gopsutil
	// counts is still known.
	root := copyTree(t, "pi4")
	for _, rel := range []string{"proc/device-tree", "proc/sys"} {
		if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	sys := faultySystem{system: newFixtureSystem(root, "pi4"), err: map[string]error{"host": errors.New("uname: broken")}}
	c := newCollectorOn(t, sys, fixtureOptions(root, newFakeClock()))
	got, err := c.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.Facts{OS: runtime.GOOS, Arch: buildArch(), Cores: 4, MemTotal: 3882296 << 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFactsNeedCPUsAndMemory(t *testing.T) {
	root := copyTree(t, "pi4")
	c := newFixtureCollector(t, root, "pi4", newFakeClock())
	writeFile(t, root, "proc/meminfo", "MemFree: 100 kB\n")
	if _, err := c.Facts(context.Background()); !errors.Is(err, errNoMemTotal) {
		t.Errorf("Facts without MemTotal: err = %v, want errNoMemTotal", err)
	}
	overlay(t, "testdata/pi4", root) // a failed first call is retried
	if f, err := c.Facts(context.Background()); err != nil || f.MemTotal != 3882296<<10 {
		t.Errorf("Facts after repair = %+v, %v", f, err)
	}
}

func TestNewNeedsStatAndMeminfo(t *testing.T) {
	for _, rel := range []string{"proc/stat", "proc/meminfo"} {
		t.Run(rel, func(t *testing.T) {
			root := copyTree(t, "pi4")
			if err := os.Remove(filepath.Join(root, rel)); err != nil {
				t.Fatal(err)
			}
			c, err := newCollector(fixtureOptions(root, newFakeClock()), newFixtureSystem(root, "pi4"))
			if err == nil {
				c.Close()
				t.Fatal("New succeeded without " + rel)
			}
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("err = %v, want one wrapping os.ErrNotExist", err)
			}
		})
	}
}

func TestFirstSampleWithoutWaiting(t *testing.T) {
	root := copyTree(t, "pi4")
	c := newFixtureCollector(t, root, "pi4", newFakeClock())
	// Nothing moved since New: no tick, no byte, no time.
	s := sample(t, c)
	if s.CPU.Total != 0 || len(s.CPU.PerCore) != 4 {
		t.Errorf("CPU = %+v, want 0%% on 4 cores", s.CPU)
	}
	if s.Net == nil || *s.Net != (protocol.Net{}) {
		t.Errorf("Net = %+v, want zero rates", s.Net)
	}
}

func TestSampleIsCallersOwn(t *testing.T) {
	root := copyTree(t, "x86")
	c := newFixtureCollector(t, root, "x86", newFakeClock())
	first := sample(t, c)
	want := Sample{CPU: protocol.CPU{PerCore: append([]float64(nil), first.CPU.PerCore...)}, TempC: map[string]float64{}}
	for k, v := range first.TempC {
		want.TempC[k] = v
	}
	wantLoad := *first.Load

	overlay(t, "testdata/x86.next", root)
	second := sample(t, c)
	if diff := cmp.Diff(want.CPU.PerCore, first.CPU.PerCore); diff != "" {
		t.Errorf("a later Sample changed an earlier one's PerCore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.TempC, first.TempC); diff != "" {
		t.Errorf("a later Sample changed an earlier one's TempC (-want +got):\n%s", diff)
	}
	if *first.Load != wantLoad || first.Load == second.Load {
		t.Errorf("a later Sample shares or changed an earlier one's Load")
	}
}

func TestThrottleFromRPiVolt(t *testing.T) {
	// A mainline kernel: no get_throttled, only the rpi_volt hwmon device.
	root := copyTree(t, "pi4")
	if err := os.RemoveAll(filepath.Join(root, "sys/devices")); err != nil {
		t.Fatal(err)
	}
	c := newFixtureCollector(t, root, "pi4", newFakeClock())
	const alarm = "sys/class/hwmon/hwmon1/in0_lcrit_alarm"
	steps := []struct {
		alarm string
		want  protocol.Throttle
	}{
		{"0\n", protocol.Throttle{}},
		{"1\n", protocol.Throttle{Raw: 0x10001, Undervoltage: true, UndervoltageOccurred: true}},
		{"0\n", protocol.Throttle{Raw: 0x10000, UndervoltageOccurred: true}}, // sticky since New
	}
	for i, step := range steps {
		writeFile(t, root, alarm, step.alarm)
		s := sample(t, c)
		if s.Throttle == nil {
			t.Fatalf("step %d: Throttle is nil", i)
		}
		if diff := cmp.Diff(step.want, *s.Throttle); diff != "" {
			t.Errorf("step %d, alarm %q (-want +got):\n%s", i, step.alarm, diff)
		}
	}
}

func TestThrottleNilWhenNotAPi(t *testing.T) {
	root := copyTree(t, "pi4")
	for _, rel := range []string{"sys/devices", "sys/class/hwmon/hwmon1"} {
		if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	c := newFixtureCollector(t, root, "pi4", newFakeClock())
	if s := sample(t, c); s.Throttle != nil {
		t.Errorf("Throttle = %+v, want nil", s.Throttle)
	}
}

// recorder is a slog.Handler that keeps the messages logged.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" {
			msg += " " + a.Value.String()
		}
		return true
	})
	r.msgs = append(r.msgs, msg)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// faultySystem is a system whose calls named in err fail with that error.
// gopsutil's load falls back to sysinfo(2) when /proc/loadavg fails, and
// statfs and host.Info read no file, so a broken tree cannot break them.
type faultySystem struct {
	system
	err map[string]error // "load", "disk" or "host"
}

func (f faultySystem) loadAvg(ctx context.Context) (*load.AvgStat, error) {
	if err := f.err["load"]; err != nil {
		return nil, err
	}
	return f.system.loadAvg(ctx)
}

func (f faultySystem) diskUsage(ctx context.Context, path string) (*disk.UsageStat, error) {
	if err := f.err["disk"]; err != nil {
		return nil, err
	}
	return f.system.diskUsage(ctx, path)
}

func (f faultySystem) hostInfo(ctx context.Context) (*host.InfoStat, error) {
	if err := f.err["host"]; err != nil {
		return nil, err
	}
	return f.system.hostInfo(ctx)
}

func TestOptionalSourceFailures(t *testing.T) {
	root := copyTree(t, "pi4")
	clk := newFakeClock()
	rec := &recorder{}
	opts := fixtureOptions(root, clk)
	opts.Logger = slog.New(rec)
	sys := faultySystem{system: newFixtureSystem(root, "pi4"), err: map[string]error{}}
	c := newCollectorOn(t, sys, opts)
	rec.take() // New's own messages

	// Everything breaks at once.
	sys.err["load"] = errors.New("loadavg: input/output error")
	sys.err["disk"] = errors.New("statfs: input/output error")
	writeFile(t, root, "proc/uptime", "\n")
	writeFile(t, root, "proc/net/dev", netDevHeader+"  eth0: x 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	writeFile(t, root, "sys/devices/platform/soc/soc:firmware/get_throttled", "zz\n")
	writeFile(t, root, "sys/class/thermal/thermal_zone0/temp", "-273150\n")
	for range 3 { // failures are logged once, not every sample
		clk.Advance(time.Second)
		s := sample(t, c)
		want := Sample{CPU: s.CPU, Mem: s.Mem, Swap: s.Swap}
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("broken sources (-want +got):\n%s", diff)
		}
	}
	wantMsgs := []string{"source unavailable load", "source unavailable uptime", "source unavailable disk",
		"source unavailable net", "source unavailable throttle"}
	if diff := cmp.Diff(wantMsgs, rec.take()); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}

	// Repaired: the network first takes a new baseline.
	clear(sys.err)
	overlay(t, filepath.Join("testdata", "pi4"), root)
	clk.Advance(time.Second)
	s := sample(t, c)
	if s.Load == nil || s.UptimeS == 0 || s.Disk == nil || s.Throttle == nil || s.TempC == nil {
		t.Errorf("after repair: %+v, want every source back", s)
	}
	if s.Net != nil {
		t.Errorf("first Net after a failure = %+v, want nil (baseline only)", s.Net)
	}
	clk.Advance(time.Second)
	if s := sample(t, c); s.Net == nil {
		t.Error("second Net after a failure is nil, want a rate")
	}
	wantMsgs = []string{"source available again load", "source available again uptime",
		"source available again disk", "source available again net", "source available again throttle"}
	if diff := cmp.Diff(wantMsgs, rec.take()); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
}

func TestSampleFailsOnBrokenStat(t *testing.T) {
	root := copyTree(t, "pi4")
	c := newFixtureCollector(t, root, "pi4", newFakeClock())
	writeFile(t, root, "proc/stat", "intr 1 2 3\n")
	if _, err := c.Sample(context.Background()); err == nil {
		t.Error("Sample succeeded on a /proc/stat without cpu lines")
	}
	// The baseline survives: a repaired file samples again.
	overlay(t, "testdata/pi4.next", root)
	if s := sample(t, c); s.CPU.Total != 30.25 {
		t.Errorf("after repair CPU.Total = %v, want 30.25 against the New baseline", s.CPU.Total)
	}
}

func TestClosed(t *testing.T) {
	c := newFixtureCollector(t, copyTree(t, "pi4"), "pi4", newFakeClock())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sample(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Sample after Close: err = %v, want ErrClosed", err)
	}
	if _, err := c.Facts(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Facts after Close: err = %v, want ErrClosed", err)
	}
}

func TestCanceledContext(t *testing.T) {
	c := newFixtureCollector(t, copyTree(t, "pi4"), "pi4", newFakeClock())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Sample(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sample: err = %v, want context.Canceled", err)
	}
	if _, err := c.Facts(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Facts: err = %v, want context.Canceled", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newFixtureCollector(t, copyTree(t, "x86"), "x86", newFakeClock())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := c.Sample(context.Background()); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Facts(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSampleAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newFixtureCollector(t, copyTree(t, "x86"), "x86", newFakeClock())
	sample(t, c) // warm the buffers
	// What the Sample owns (PerCore, the optional block, TempC: a map and
	// its buckets) and what gopsutil allocates reading the files: most of
	// it, meminfo alone ~175. The budget is there to notice a gopsutil
	// upgrade that reads more.
	const budget = 260
	allocs := testing.AllocsPerRun(100, func() { sample(t, c) })
	if allocs > budget {
		t.Errorf("Sample allocates %v times, budget %d", allocs, budget)
	}
}

func TestDiscoverSensors(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		// Two zones of one type are told apart by number.
		"class/thermal/thermal_zone0/type":   "acpitz\n",
		"class/thermal/thermal_zone0/temp":   "30000\n",
		"class/thermal/thermal_zone1/type":   "acpitz\n",
		"class/thermal/thermal_zone1/temp":   "31000\n",
		"class/thermal/thermal_zone10/type":  "iwlwifi_1\n",
		"class/thermal/thermal_zone10/temp":  "40000\n",
		"class/thermal/thermal_zone2/temp":   "50000\n", // no type: skipped
		"class/thermal/cooling_device0/type": "Processor\n",
		// The zone again as hwmon: skipped.
		"class/hwmon/hwmon0/name":        "acpitz\n",
		"class/hwmon/hwmon0/temp1_input": "30000\n",
		// Unlabelled inputs: the first is the device's name alone.
		"class/hwmon/hwmon1/name":         "k10temp\n",
		"class/hwmon/hwmon1/temp1_input":  "45000\n",
		"class/hwmon/hwmon1/temp3_input":  "46000\n",
		"class/hwmon/hwmon1/temp3_max":    "70000\n",
		"class/hwmon/hwmon1/in0_input":    "1200\n",
		"class/hwmon/hwmon2/name":         "drivetemp\n",
		"class/hwmon/hwmon2/temp1_input":  "35000\n",
		"class/hwmon/hwmon3/temp1_input":  "35000\n", // no name: skipped
		"class/hwmon/hwmon11/name":        "nct6798\n",
		"class/hwmon/hwmon11/temp7_label": "PCH_CHIP_CPU_MAX_TEMP\n",
		"class/hwmon/hwmon11/temp7_input": "0\n",
	}
	for rel, data := range files {
		writeFile(t, root, rel, data)
	}
	var keys []string
	for _, s := range discoverSensors(root) {
		keys = append(keys, s.key)
	}
	want := []string{"acpitz", "acpitz_1", "iwlwifi_1", "k10temp", "k10temp_temp3", "nct6798_pch_chip_cpu_max_temp"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var buf []byte
	got := readTemps(discoverSensors(root), &buf)
	wantTemps := map[string]float64{"acpitz": 30, "acpitz_1": 31, "iwlwifi_1": 40, "k10temp": 45, "k10temp_temp3": 46}
	if diff := cmp.Diff(wantTemps, got); diff != "" {
		t.Errorf("temperatures (-want +got):\n%s", diff)
	}
}

func TestDiscoverSensorsBounded(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "class/hwmon/hwmon0/name", "big\n")
	for m := 1; m <= maxSensors+10; m++ {
		writeFile(t, root, filepath.Join("class/hwmon/hwmon0", "temp"+strconv.Itoa(m)+"_input"), "40000\n")
	}
	if n := len(discoverSensors(root)); n != maxSensors {
		t.Errorf("%d sensors, want the protocol's limit %d", n, maxSensors)
	}
}

// TestSampleMatchesProtocol guards Sample against drifting from the body of
// protocol.Metrics: same fields, types and JSON names, in order.
func TestSampleMatchesProtocol(t *testing.T) {
	type field struct {
		Name, Tag string
		Type      reflect.Type
	}
	fields := func(typ reflect.Type, skip ...string) []field {
		var fs []field
	outer:
		for i := range typ.NumField() {
			f := typ.Field(i)
			for _, s := range skip {
				if f.Name == s {
					continue outer
				}
			}
			fs = append(fs, field{f.Name, f.Tag.Get("json"), f.Type})
		}
		return fs
	}
	want := fields(reflect.TypeFor[protocol.Metrics](), "Header", "Heartbeat", "Outbox") // the uplink adds these
	got := fields(reflect.TypeFor[Sample]())
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b reflect.Type) bool { return a == b })); diff != "" {
		t.Errorf("Sample vs protocol.Metrics (-want +got):\n%s", diff)
	}
}

// TestSamplesValidate checks that what the collector makes passes the
// scheduler's validation, on every fixture tree and on this machine.
func TestSamplesValidate(t *testing.T) {
	h := protocol.Header{V: protocol.Version, Node: "pi4-edge-01", Instance: "i1", Seq: 1, TS: time.Unix(1, 0)}
	check := func(t *testing.T, s Sample) {
		m := s.Metrics(h, false)
		if err := m.Validate(); err != nil {
			t.Errorf("Validate: %v\n%+v", err, m)
		}
	}
	for _, tree := range []string{"pi4", "x86"} {
		t.Run(tree, func(t *testing.T) {
			root := copyTree(t, tree)
			clk := newFakeClock()
			c := newFixtureCollector(t, root, tree, clk)
			check(t, sample(t, c))
			overlay(t, filepath.Join("testdata", tree+".next"), root)
			clk.Advance(10 * time.Second)
			check(t, sample(t, c))
		})
	}
	t.Run("live", func(t *testing.T) {
		c := newLive(t)
		check(t, sample(t, c))
		time.Sleep(20 * time.Millisecond) // kept: the live counters need real time between two samples
		check(t, sample(t, c))
	})
}

func newLive(t testing.TB) *Collector {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the live collector reads Linux's /proc and /sys")
	}
	c, err := New(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLive(t *testing.T) {
	c := newLive(t)
	f, err := c.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Cores < 1 || f.MemTotal == 0 || f.Kernel == "" || f.Hostname == "" || f.Platform == "" || f.BootTime.IsZero() {
		t.Errorf("implausible live facts: %+v", f)
	}
	t.Logf("live facts: %+v", f)
	time.Sleep(20 * time.Millisecond) // kept: as in the live sample test
	s := sample(t, c)
	if len(s.CPU.PerCore) != f.Cores || s.Mem.Total != f.MemTotal || s.Disk == nil || s.Disk.Total == 0 || s.UptimeS == 0 {
		t.Errorf("implausible live sample: %+v", s)
	}
}

// BenchmarkSample measures one Sample on this machine, the agent's hot path.
func BenchmarkSample(b *testing.B) {
	c := newLive(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSampleFixture measures a Sample on the x86 fixture tree: six
// sensors and a throttle-free machine, without the live disk.
func BenchmarkSampleFixture(b *testing.B) {
	c := newFixtureCollector(b, copyTree(b, "x86"), "x86", newFakeClock())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
