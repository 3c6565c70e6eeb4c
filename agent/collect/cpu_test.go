package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpOpts = cmp.AllowUnexported(cpuTimes{}, procStat{}, ifCounters{}, meminfo{}, osRelease{})

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{
			name: "modern kernel",
			in: "cpu  10 20 30 40 50 60 70 80 90 100\n" +
				"cpu0 1 2 3 4 5 6 7 8 9 10\n" +
				"cpu1 9 18 27 36 45 54 63 72 81 90\n" +
				"intr 1 2 3\nctxt 99\nbtime 1717401600\nprocesses 5\n",
			want: procStat{
				total: cpuTimes{id: -1, user: 10, nice: 20, system: 30, idle: 40, iowait: 50, irq: 60, softirq: 70, steal: 80},
				cores: []cpuTimes{
					{id: 0, user: 1, nice: 2, system: 3, idle: 4, iowait: 5, irq: 6, softirq: 7, steal: 8},
					{id: 1, user: 9, nice: 18, system: 27, idle: 36, iowait: 45, irq: 54, softirq: 63, steal: 72},
				},
				btime: 1717401600,
			},
		},
		{
			name: "2.6.0 kernel: four columns, offline cpu1",
			in:   "cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu2 0 0 0 1\n",
			want: procStat{
				total: cpuTimes{id: -1, user: 1, nice: 2, system: 3, idle: 4},
				cores: []cpuTimes{{id: 0, user: 1, nice: 2, system: 3, idle: 4}, {id: 2, idle: 1}},
			},
		},
		{name: "no aggregate line", in: "cpu0 1 2 3 4\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "too few columns", in: "cpu  1 2 3\n", wantErr: true},
		{name: "not a number", in: "cpu  1 2 x 4\n", wantErr: true},
		{name: "bad cpu number", in: "cpu  1 2 3 4\ncpux 1 2 3 4\n", wantErr: true},
		{name: "negative", in: "cpu  1 2 -3 4\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got procStat
			err := parseStat([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatReusesCores(t *testing.T) {
	st := procStat{cores: make([]cpuTimes, 0, 8)}
	in := []byte("cpu  1 2 3 4\ncpu0 1 2 3 4\n")
	if err := parseStat(in, &st); err != nil {
		t.Fatal(err)
	}
	if err := parseStat(in, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.cores) != 1 || cap(st.cores) != 8 {
		t.Errorf("len %d cap %d, want 1 and 8", len(st.cores), cap(st.cores))
	}
}

func TestCPUPercent(t *testing.T) {
	base := cpuTimes{user: 1000, nice: 10, system: 500, idle: 9000, iowait: 100, irq: 5, softirq: 20, steal: 0}
	tests := []struct {
		name string
		cur  cpuTimes
		want float64
	}{
		{"idle", add(base, delta{idle: 100}), 0},
		{"busy", add(base, delta{user: 100}), 100},
		{"iowait is idle", add(base, delta{user: 25, iowait: 75}), 25},
		{"steal is busy", add(base, delta{steal: 50, idle: 50}), 50},
		{"every busy column", add(base, delta{user: 1, nice: 1, system: 1, irq: 1, softirq: 1, steal: 1, idle: 4}), 60},
		{"rounded to 2 decimals", add(base, delta{user: 1, idle: 2}), 33.33},
		{"no tick elapsed", base, 0},
		{"iowait went backwards", add(base, delta{user: 50, idle: 50, iowait: -10}), 50},
		{"counters restarted (cpu re-onlined)", cpuTimes{user: 10, idle: 10}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuPercent(base, tt.cur); got != tt.want {
				t.Errorf("cpuPercent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPerCorePercent(t *testing.T) {
	c := func(id int, busy, idle uint64) cpuTimes { return cpuTimes{id: id, user: busy, idle: idle} }
	tests := []struct {
		name      string
		prev, cur []cpuTimes
		want      []float64
	}{
		{"same cpus", []cpuTimes{c(0, 0, 0), c(1, 0, 0)}, []cpuTimes{c(0, 10, 90), c(1, 50, 50)}, []float64{10, 50}},
		{"cpu1 went offline", []cpuTimes{c(0, 0, 0), c(1, 0, 0), c(2, 0, 0)}, []cpuTimes{c(0, 10, 90), c(2, 30, 70)}, []float64{10, 30}},
		{"cpu1 came online: no baseline", []cpuTimes{c(0, 0, 0)}, []cpuTimes{c(0, 10, 90), c(1, 80, 20)}, []float64{10, 0}},
		{"no cpus", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := perCorePercent(nil, tt.prev, tt.cur)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

type delta struct{ user, nice, system, idle, iowait, irq, softirq, steal int64 }

// add returns t moved by d; a negative delta makes a counter go backwards.
func add(t cpuTimes, d delta) cpuTimes {
	t.user += uint64(d.user)
	t.nice += uint64(d.nice)
	t.system += uint64(d.system)
	t.idle += uint64(d.idle)
	t.iowait += uint64(d.iowait)
	t.irq += uint64(d.irq)
	t.softirq += uint64(d.softirq)
	t.steal += uint64(d.steal)
	return t
}
