package protocol

import (
	"errors"
	"strings"
	"testing"
)

// Hostile times: each decodes as JSON, but once moved to UTC lies outside
// the years RFC 3339 can write, so a message carrying one could never be
// re-encoded (the fleet table failed on it and stopped being published).
const (
	tsFarFuture = `9999-12-31T23:59:59-23:59`
	tsYearZero  = `0000-01-01T00:00:00+23:59`
)

const metricsHead = `{"v":1,"node":"pi-0001","instance":"01JDQ8Z3K4","store":"5b0c1e9a7d2f4c11",`

func metricsWith(fields string) string {
	return metricsHead + fields + `,"cpu":{"total":12.5},"mem":{"total":100,"available":50,"used":50,"percent":50},"uptime_s":10}`
}

const birthHead = `{"v":1,"node":"pi-0001","instance":"01JDQ8Z3K4","state":"online","conn":1,`
const birthFacts = `"facts":{"hostname":"pi","os":"linux","arch":"arm64","cores":4,"mem_total":1024,"agent_version":"0.1.0","tier":"edge"}`

func birthWith(fields string) string { return birthHead + fields + `,` + birthFacts + `}` }

func TestDecodersBoundValues(t *testing.T) {
	cases := []struct {
		name    string
		decode  func([]byte) error
		payload string
		field   string // named in the error; "" when the payload is valid
	}{
		{"metrics ts in year 10000 UTC", metricsErr, metricsWith(`"seq":1,"ts":"` + tsFarFuture + `"`), "ts"},
		{"metrics ts in year -1 UTC", metricsErr, metricsWith(`"seq":1,"ts":"` + tsYearZero + `"`), "ts"},
		{"metrics ts in 2200", metricsErr, metricsWith(`"seq":1,"ts":"2200-01-01T00:00:00Z"`), "ts"},
		{"metrics ts before 1970", metricsErr, metricsWith(`"seq":1,"ts":"1969-12-31T23:59:59Z"`), "ts"},
		{"metrics from a board without an RTC", metricsErr, metricsWith(`"seq":1,"ts":"1970-01-01T00:00:42.5Z","boot":"b","up_ms":42500`), ""},
		{"metrics ts with a +23:59 offset", metricsErr, metricsWith(`"seq":1,"ts":"2026-11-27T09:30:00+23:59"`), ""},
		{"metrics seq 2^64-1", metricsErr, metricsWith(`"seq":18446744073709551615,"ts":"2026-11-27T09:30:00Z"`), "seq"},
		{"metrics seq 2^53", metricsErr, metricsWith(`"seq":9007199254740992,"ts":"2026-11-27T09:30:00Z"`), "seq"},
		{"metrics seq 2^53-1", metricsErr, metricsWith(`"seq":9007199254740991,"ts":"2026-11-27T09:30:00Z"`), ""},
		{"metrics up_ms over a century", metricsErr, metricsWith(`"seq":1,"ts":"2026-11-27T09:30:00Z","boot":"b","up_ms":18446744073709551615`), "up_ms"},
		{"metrics uptime_s over a century", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"total":1,"used":1,"percent":100},"uptime_s":18446744073709551615}`, "uptime_s"},
		{"metrics mem.total 2^64-1", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"total":18446744073709551615,"percent":0}}`, "mem.total"},
		{"metrics disk.total 2^64-1", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"disk":{"path":"/","total":18446744073709551615,"percent":0}}`, "disk.total"},
		{"metrics load 1e300", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"load":{"m1":1e300,"m5":0,"m15":0}}`, "load.m1"},
		{"metrics net 1e300", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"net":{"rx_bps":1e300,"tx_bps":0}}`, "net.rx_bps"},
		{"metrics outbox dropped 2^64-1", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"outbox":{"pending":0,"bytes":0,"dropped":18446744073709551615}}`, "outbox.dropped"},
		{"metrics outbox bytes 2^63-1", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"outbox":{"pending":0,"bytes":9223372036854775807}}`, "outbox.bytes"},
		{"metrics temperature -273", metricsErr, metricsHead + `"seq":1,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{"percent":0},"temp_c":{"cpu":-273}}`, "temp_c.cpu"},
		{"metrics from 2^64-1", metricsErr, metricsWith(`"seq":1,"from":18446744073709551615,"ts":"2026-11-27T09:30:00Z"`), "from"},

		{"birth recovery.at in year 10000 UTC", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"at":"` + tsFarFuture + `","reason":"MANIFEST torn"}`), "recovery.at"},
		{"birth recovery.at in year -1 UTC", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"at":"` + tsYearZero + `","reason":"MANIFEST torn"}`), "recovery.at"},
		{"birth recovery without at", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"reason":"MANIFEST torn"}`), "recovery.at"},
		{"birth with disk_full", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","health":{"disk_full":true}`), ""},
		{"will with health", statusErr, `{"v":1,"node":"pi-0001","instance":"01JDQ8Z3K4","state":"offline","reason":"lost","conn":1,"seq":0,"ts":"2026-11-27T09:30:00Z","health":{"disk_full":true}}`, "health"},
		{"birth recovery.at in 1970", statusErr, birthWith(`"seq":0,"ts":"1970-01-01T00:01:00Z","recovery":{"at":"1970-01-01T00:00:59Z","reason":"MANIFEST torn"}`), ""},
		{"birth ts in year 10000 UTC", statusErr, birthWith(`"seq":0,"ts":"` + tsFarFuture + `"`), "ts"},
		{"birth seq 2^64-1", statusErr, birthWith(`"seq":18446744073709551615,"ts":"2026-11-27T09:30:00Z"`), "seq"},
		{"birth heartbeat_s 1e300", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","heartbeat_s":1e300`), "heartbeat_s"},
		{"birth heartbeat_s a week", statusErr, birthWith(`"seq":0,"ts":"2026-11-27T09:30:00Z","heartbeat_s":604800`), ""},
		{"birth task_slots 4097", statusErr, birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","task_slots":4097}}`, "task_slots"},
		{"birth task_progress_s 61", statusErr, birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","task_progress_s":61}}`, "task_progress_s"},
		{"birth task_progress_s -1", statusErr, birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","task_progress_s":-1}}`, "task_progress_s"},
		{"birth boot_time in year 10000 UTC", statusErr, birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","boot_time":"` + tsFarFuture + `"}}`, "boot_time"},
		{"birth mem_total 2^64-1", statusErr, birthHead + `"seq":0,"ts":"2026-11-27T09:30:00Z","facts":{"arch":"arm64","cores":4,"tier":"edge","mem_total":18446744073709551615}}`, "mem_total"},

		{"scheduler ts in year 10000 UTC", schedulerErr, `{"v":1,"state":"online","instance":"s","version":"0.1.0","ts":"` + tsFarFuture + `"}`, "ts"},
		{"scheduler epoch 2^53-1", schedulerErr, `{"v":1,"state":"online","instance":"s","version":"0.1.0","ts":"2026-11-27T09:30:00Z","epoch":9007199254740991}`, ""},
		{"scheduler epoch 2^64-1", schedulerErr, `{"v":1,"state":"online","instance":"s","version":"0.1.0","ts":"2026-11-27T09:30:00Z","epoch":18446744073709551615}`, "epoch"},
		{"scheduler without ts", schedulerErr, `{"v":1,"state":"online","instance":"s","version":"0.1.0"}`, "ts"},
		{"summary ts in year -1 UTC", summaryErr, `{"v":1,"ts":"` + tsYearZero + `","nodes":0,"online":0,"offline":0}`, "ts"},
		{"summary throttled over online", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":1,"online":1,"offline":0,"throttled":2}`, "throttled"},
		{"summary junk duplicate id", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":1,"online":1,"offline":0,"duplicates":["a/#"]}`, "duplicates"},
		{"summary wan", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"rtt_ms":60,"up_mbps":20,"down_mbps":20}}`, ""},
		{"summary wan without a round trip", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"up_mbps":20,"down_mbps":20}}`, "wan.rtt_ms"},
		{"summary wan rtt above ten minutes", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"rtt_ms":600001,"up_mbps":20,"down_mbps":20}}`, "wan.rtt_ms"},
		{"summary wan down of 0", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"rtt_ms":60,"up_mbps":20,"down_mbps":0}}`, "wan.down_mbps"},
		{"summary wan up above 10^6", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"rtt_ms":60,"up_mbps":1e7,"down_mbps":20}}`, "wan.up_mbps"},
		{"summary wan measured negative", summaryErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":0,"online":0,"offline":0,"wan":{"rtt_ms":60,"up_mbps":20,"down_mbps":20,"measured":{"mbps":-1}}}`, "link.mbps"},
		{"fleet ts in year 10000 UTC", fleetErr, `{"v":1,"ts":"` + tsFarFuture + `","nodes":[]}`, "ts"},
		{"fleet row last_seen in year -1 UTC", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","last_seen":"` + tsYearZero + `"}]}`, "last_seen"},
		{"fleet row store_recovered in year 10000", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","store_recovered":"` + tsFarFuture + `"}]}`, "store_recovered"},
		{"fleet row seq 2^64-1", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","seq":18446744073709551615}]}`, "seq"},
		{"fleet row link rtt 1e300", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","link":{"rtt_ms":1e300}}]}`, "link.rtt_ms"},
		{"fleet row link mbps negative", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","link":{"mbps":-1}}]}`, "link.mbps"},
		{"fleet row link samples 2^64-1", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","link":{"mbps_samples":18446744073709551615}}]}`, "link.mbps_samples"},
		{"fleet row link measured", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","link":{"rtt_ms":80,"rtt_dev_ms":3,"rtt_samples":5,"mbps":2.1,"mbps_dev":0.2,"mbps_samples":2}}]}`, ""},
		{"fleet row cpu 1e300", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","cpu":1e300}]}`, "cpu"},
		{"fleet row from a board without an RTC", fleetErr, `{"v":1,"ts":"2026-11-27T09:30:00Z","nodes":[{"node":"a","measured":"1970-01-01T00:00:42Z","clock_skew_ms":-1795000000000}]}`, ""},
		{"duplicate ts in year 10000 UTC", duplicateErr, `{"v":1,"node":"a","instances":["x","y"],"ts":"` + tsFarFuture + `"}`, "ts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.decode([]byte(c.payload))
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %q does not name %s", err, c.field)
			}
		})
	}
}

func metricsErr(b []byte) error   { _, err := DecodeMetrics(b); return err }
func statusErr(b []byte) error    { _, err := DecodeNodeStatus(b); return err }
func schedulerErr(b []byte) error { _, err := DecodeSchedulerStatus(b); return err }
func summaryErr(b []byte) error   { _, err := DecodeFleetSummary(b); return err }
func fleetErr(b []byte) error     { _, err := DecodeFleetNodes(b); return err }
func duplicateErr(b []byte) error { _, err := DecodeDuplicateNotice(b); return err }

// An error names a too-long id by its start: errors reach logs, and a
// hostile id must not carry its whole payload there.
func TestValidateIDErrorIsShort(t *testing.T) {
	err := ValidateID("node", strings.Repeat("x", MaxMessage))
	if err == nil || len(err.Error()) > 3*MaxIDLen {
		t.Fatalf("got %d bytes of error: %.100v", len(err.Error()), err)
	}
}

// Errors reach logs: what a hostile sender put in a field, a topic or a
// time is never copied into them whole.
func TestErrorsDoNotCarryPayloads(t *testing.T) {
	huge := strings.Repeat("x", 60<<10)
	for name, err := range map[string]error{
		"a huge ts":    metricsErr([]byte(metricsWith(`"seq":1,"ts":"` + huge + `"`))),
		"a huge topic": func() error { _, err := ParseNodeTopic("tether/v1/r/nodes/n/" + huge); return err }(),
	} {
		if err == nil || len(err.Error()) > 400 {
			t.Errorf("%s: %d bytes of error", name, len(err.Error()))
		}
	}
}
