package protocol

import (
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

var ts = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

func hdr(seq uint64) Header {
	return Header{V: Version, Node: "pi-0001", Instance: "01JDQ8Z3K4", Store: "5b0c1e9a7d2f4c11", Seq: seq, TS: ts,
		Boot: "5d2f6a0c-7a3e-4a4e-9f2c-4d8c1f1e2b3a", UpMS: 259200000 + seq*1000}
}

func f64(v float64) *float64 { return &v }

// examples are the messages docs/protocol.md shows; the golden files pin
// their encoding.
var examples = map[string]any{
	"birth": NodeStatus{Header: hdr(56), State: StateOnline, Conn: 3, HeartbeatS: 60, Facts: &Facts{
		Hostname: "raspberrypi", OS: "linux", Arch: "arm64", Model: "Raspberry Pi 4 Model B Rev 1.4",
		Platform: "debian 12.8", Kernel: "6.6.51+rpt-rpi-v8", Cores: 4, MemTotal: 3978489856,
		AgentVersion: "0.1.0", Tier: TierEdge, Labels: map[string]string{"site": "greenhouse-2"},
		BootID: "5d2f6a0c-7a3e-4a4e-9f2c-4d8c1f1e2b3a", BootTime: ts.Add(-72 * time.Hour),
	}},
	"will":    NodeStatus{Header: hdr(56), State: StateOffline, Reason: ReasonLost, Conn: 3},
	"goodbye": NodeStatus{Header: hdr(57), State: StateOffline, Reason: ReasonShutdown, Conn: 3},
	"recovered": NodeStatus{Header: Header{V: Version, Node: "pi-0002", Instance: "7c1e90aa3b5d4f20", Store: "e41a0b7c93d25f68",
		TS: ts, Boot: "0b7e1c55-2f4d-4c8a-9e61-3a2d7f9c4b10", UpMS: 41000},
		State: StateOnline, Conn: 1, HeartbeatS: 60, Facts: &Facts{
			Hostname: "pi-0002", OS: "linux", Arch: "armv7", Model: "Raspberry Pi 3 Model B Rev 1.2", Cores: 4, MemTotal: 969744384,
			AgentVersion: "0.1.0", Tier: TierEdge, TaskSlots: 4},
		Recovery: &Recovery{At: ts.Add(-20 * time.Second), Reason: "MANIFEST: checksum mismatch",
			MovedTo: "/var/lib/tether/store.corrupt-20261127T092940Z"}},
	"diskfull": NodeStatus{Header: hdr(61), State: StateOnline, Conn: 3, HeartbeatS: 60, Facts: &Facts{
		Hostname: "raspberrypi", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 3978489856, AgentVersion: "0.1.0",
		Tier: TierEdge, TaskSlots: 4}, Health: &Health{DiskFull: true}},
	"metrics": Metrics{Header: func() Header { h := hdr(57); h.From = 55; return h }(),
		CPU:      CPU{Total: 12.5, PerCore: []float64{20, 10, 10, 10}},
		Load:     &Load{M1: 0.42, M5: 0.35, M15: 0.3},
		Mem:      Mem{Total: 3978489856, Available: 3300000000, Used: 678489856, Percent: 17.05},
		Disk:     &Disk{Path: "/var/lib/tether", Usage: Usage{Total: 31000000000, Used: 5200000000, Percent: 16.77}},
		Net:      &Net{RxBps: 1200, TxBps: 300},
		TempC:    map[string]float64{"cpu_thermal": 48.7},
		UptimeS:  259200,
		Throttle: &Throttle{Raw: 0x50000, UndervoltageOccurred: true, ThrottledOccurred: true},
		Outbox:   &Outbox{Pending: 3, Bytes: 2790},
	},
	"scheduler": SchedulerStatus{V: Version, State: StateOnline, Instance: "01JDQ90000", Version: "0.1.0", TS: ts},
	"scheduler-ha": SchedulerStatus{V: Version, State: StateOnline, Instance: "01JDQ90000", Version: "0.1.0", TS: ts,
		Epoch: 7},
	"duplicate": DuplicateNotice{V: Version, Node: "pi-0001", Instances: []string{"01JDQ8Z3K4", "7c1e90aa3b"}, TS: ts},
	"summary": FleetSummary{V: Version, TS: ts, Nodes: 3, Online: 2, Offline: 1, Throttled: 1,
		WAN: &WANLink{RTTMS: 84, UpMbps: 9.27, DownMbps: 9.24, Measured: &LinkEstimate{RTTMS: 88, RTTDevMS: 6.5, RTTSamples: 6, Mbps: 7.9, MbpsDev: 1.2, MbpsSamples: 8,
			UpMbps: 3.9, UpMbpsDev: 0.4, UpMbpsSamples: 2}}},
	"row": FleetRow{V: Version, TS: ts, Scheduler: "01JDQ90000", FleetNode: FleetNode{Node: "pi-0001", Online: true, Arch: "arm64",
		Model: "Raspberry Pi 4 Model B Rev 1.4", Tier: TierEdge, CPU: f64(12.5), MemPct: f64(17.05), TempC: f64(48.7), LastSeen: ts,
		Measured: ts.Add(-120 * time.Millisecond), ClockSkewMS: 35, Seq: 57, Missing: 2, Outbox: &Outbox{Pending: 3, Bytes: 2790},
		Link: &LinkEstimate{RTTMS: 4.2, RTTDevMS: 0.9, RTTSamples: 12, Mbps: 87.5, MbpsDev: 6.1, MbpsSamples: 3,
			UpMbps: 41.3, UpMbpsDev: 4.4, UpMbpsSamples: 2}}},
	"fleet": FleetNodes{V: Version, TS: ts, Nodes: []FleetNode{
		{Node: "pi-0001", Online: true, Arch: "arm64", Model: "Raspberry Pi 4 Model B Rev 1.4", Tier: TierEdge,
			CPU: f64(12.5), MemPct: f64(17.05), TempC: f64(48.7), LastSeen: ts, Measured: ts.Add(-120 * time.Millisecond),
			ClockSkewMS: 35, Seq: 57, Missing: 2, Outbox: &Outbox{Pending: 3, Bytes: 2790}},
		{Node: "pi-0002", Online: false, Reason: ReasonLost, Arch: "armv7", Tier: TierEdge, LastSeen: ts.Add(-time.Minute),
			StoreRecovered: ts.Add(-20 * time.Minute), Seq: 1204, Gaps: 17, Dups: 3},
	}},
}

// goldenDecoders decode each golden file (and its example in
// docs/protocol.md) by its name.
var goldenDecoders = map[string]func([]byte) (any, error){
	"birth":         func(b []byte) (any, error) { return DecodeNodeStatus(b) },
	"enrol-request": func(b []byte) (any, error) { return DecodeEnrolRequest(b) },
	"enrol-reply":   func(b []byte) (any, error) { return DecodeEnrolReply(b) },
	"will":          func(b []byte) (any, error) { return DecodeNodeStatus(b) },
	"goodbye":       func(b []byte) (any, error) { return DecodeNodeStatus(b) },
	"recovered":     func(b []byte) (any, error) { return DecodeNodeStatus(b) },
	"diskfull":      func(b []byte) (any, error) { return DecodeNodeStatus(b) },
	"metrics":       func(b []byte) (any, error) { return DecodeMetrics(b) },
	"scheduler":     func(b []byte) (any, error) { return DecodeSchedulerStatus(b) },
	"scheduler-ha":  func(b []byte) (any, error) { return DecodeSchedulerStatus(b) },
	"summary":       func(b []byte) (any, error) { return DecodeFleetSummary(b) },
	"duplicate":     func(b []byte) (any, error) { return DecodeDuplicateNotice(b) },
	"fleet":         func(b []byte) (any, error) { return DecodeFleetNodes(b) },
	"row":           func(b []byte) (any, error) { return DecodeFleetRow(b) },
}

func TestGolden(t *testing.T) {
	for name, msg := range examples {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want := testenv.Golden(t, filepath.Join("testdata", name+".golden.json"), got, *update)
			back, err := goldenDecoders[name](want)
			if err != nil {
				t.Fatalf("golden file does not decode: %v", err)
			}
			if diff := cmp.Diff(msg, back); diff != "" {
				t.Fatalf("round trip (-sent +decoded):\n%s", diff)
			}
		})
	}
}

// badCases are payloads every decoder must refuse, with the error class.
var badCases = []struct {
	name    string
	payload string
	want    error
}{
	{"empty", ``, ErrSyntax},
	{"garbage", `\x00\xff garbage`, ErrSyntax},
	{"not an object", `[1,2,3]`, ErrSyntax},
	{"trailing data", `{"v":1} {"v":1}`, ErrSyntax},
	{"wrong version", `{"v":2,"node":"a","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","state":"offline"}`, ErrVersion},
	{"no version", `{"node":"a","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","state":"offline"}`, ErrVersion},
	{"wrong type", `{"v":"1","node":"a"}`, ErrSyntax},
	{"bad node id", `{"v":1,"node":"a/+","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","state":"offline"}`, ErrInvalid},
	{"no seq, no conn", `{"v":1,"node":"a","instance":"i","ts":"2026-11-27T09:30:00Z","state":"offline","cpu":{"total":1}}`, ErrInvalid},
	{"no ts", `{"v":1,"node":"a","instance":"i","seq":1,"state":"offline"}`, ErrInvalid},
	{"oversized", `{"v":1,"pad":"` + strings.Repeat("x", MaxMessage) + `"}`, ErrTooLarge},
}

func TestDecodersRejectBadInput(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := DecodeNodeStatus([]byte(c.payload)); !errors.Is(err, c.want) {
				t.Errorf("DecodeNodeStatus: %v, want %v", err, c.want)
			}
			if _, err := DecodeMetrics([]byte(c.payload)); !errors.Is(err, c.want) {
				t.Errorf("DecodeMetrics: %v, want %v", err, c.want)
			}
		})
	}
}

func TestNodeStatusValidation(t *testing.T) {
	good := examples["birth"].(NodeStatus)
	cases := map[string]func(m *NodeStatus){
		"birth without facts": func(m *NodeStatus) { m.Facts = nil },
		"unknown state":       func(m *NodeStatus) { m.State = "sleeping" },
		"zero cores":          func(m *NodeStatus) { f := *m.Facts; f.Cores = 0; m.Facts = &f },
		"unknown tier":        func(m *NodeStatus) { f := *m.Facts; f.Tier = "fog"; m.Facts = &f },
		"bad label key":       func(m *NodeStatus) { f := *m.Facts; f.Labels = map[string]string{"a b": "c"}; m.Facts = &f },
		"negative heartbeat":  func(m *NodeStatus) { m.HeartbeatS = -1 },
		"long recovery reason": func(m *NodeStatus) {
			m.Recovery = &Recovery{At: ts, Reason: strings.Repeat("r", 300)}
		},
		"long hostname": func(m *NodeStatus) {
			f := *m.Facts
			f.Hostname = strings.Repeat("h", 300)
			m.Facts = &f
		},
	}
	for name, mutate := range cases {
		m := good
		mutate(&m)
		b, _ := json.Marshal(m)
		if _, err := DecodeNodeStatus(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestMetricsValidation(t *testing.T) {
	good := examples["metrics"].(Metrics)
	cases := map[string]func(m *Metrics){
		"cpu over 100":      func(m *Metrics) { m.CPU.Total = 250 },
		"negative cpu core": func(m *Metrics) { m.CPU.PerCore = []float64{-3} },
		"used over total":   func(m *Metrics) { m.Mem.Used = m.Mem.Total + 1 },
		"negative load":     func(m *Metrics) { m.Load = &Load{M1: -1} },
		"hot sensor":        func(m *Metrics) { m.TempC = map[string]float64{"x": 900} },
		"negative net":      func(m *Metrics) { m.Net = &Net{RxBps: -5} },
		"disk used > total": func(m *Metrics) { m.Disk = &Disk{Usage: Usage{Total: 1, Used: 2}} },
	}
	for name, mutate := range cases {
		m := good
		mutate(&m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMetrics(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestDuplicateNoticeNeedsTwoInstances(t *testing.T) {
	b := []byte(`{"v":1,"node":"a","instances":["x"],"ts":"2026-11-27T09:30:00Z"}`)
	if _, err := DecodeDuplicateNotice(b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestFleetSummaryCountsMustAddUp(t *testing.T) {
	b := []byte(`{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":3,"online":1,"offline":1}`)
	if _, err := DecodeFleetSummary(b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}
