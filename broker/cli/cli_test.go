package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
)

func testEnv(stdin string) (Env, *strings.Builder, *strings.Builder) {
	var out, errb strings.Builder
	return Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Version: "v-test"}, &out, &errb
}

func TestPrintNodes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	cpu, mem, temp := 12.34, 50.0, 61.5
	f := protocol.FleetNodes{V: 1, Nodes: []protocol.FleetNode{
		{Node: "pi-a", Online: true, Arch: "arm64", Model: "Raspberry Pi 4 Model B Rev 1.4", Tier: "edge", Version: "1.4.2",
			CPU: &cpu, MemPct: &mem, TempC: &temp, LastSeen: now.Add(-3 * time.Second), Throttled: true,
			Link: &protocol.LinkEstimate{RTTMS: 4.25, RTTSamples: 3, Mbps: 87.54, MbpsSamples: 1}},
		{Node: "vm-e", Online: true, Tier: "cloud", LastSeen: now.Add(-time.Second),
			Link: &protocol.LinkEstimate{UpMbps: 3.96, UpMbpsSamples: 2}},
		{Node: "pi-b", Online: false, Reason: "lost", Arch: "armv7", LastSeen: now.Add(-90 * time.Second), Duplicate: true},
		{Node: "pi-c"},
		{Node: "pi-d", Online: true, Arch: "arm64", LastSeen: now.Add(-time.Second), DiskFull: true},
	}}
	var b strings.Builder
	if err := printNodes(&b, f, now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"NODE", "VERSION", "RTT", "MBIT/S DOWN/UP", "LAST SEEN",
		"pi-a", "1.4.2", "arm64", "Raspberry Pi 4 Model B Rev 1.4", "online throttled", "12.3", "50.0", "61.5°C", "4.2ms", "87.5/-", "3s ago",
		"vm-e", " -/4.0 ",
		"pi-b", "offline (lost) DUPLICATE-ID", "1m30s ago",
		"pi-c", "never",
		"pi-d", "online DISK-FULL",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines != 6 {
		t.Errorf("%d lines, want a header and 5 rows:\n%s", lines, got)
	}
}

// TestPrintWAN: the summary's WAN after the table, what is measured and
// over how many samples; nothing for a summary without it.
func TestPrintWAN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		wan  *protocol.WANLink
		want string
	}{
		{nil, ""},
		{&protocol.WANLink{RTTMS: 60, UpMbps: 20, DownMbps: 20},
			"\nWAN (placement): round trip 60.0ms, down 20.0 Mbit/s, up 20.0 Mbit/s (configured); not measured yet: as configured\n"},
		{&protocol.WANLink{RTTMS: 84, UpMbps: 20, DownMbps: 9.24, Measured: &protocol.LinkEstimate{RTTMS: 88, RTTSamples: 6, Mbps: 7.9, MbpsSamples: 8}},
			"\nWAN (placement): round trip 84.0ms, down 9.2 Mbit/s, up 20.0 Mbit/s (configured); measured 88.0ms over 6 probes, down 7.9 Mbit/s over 8 transfers\n"},
		{&protocol.WANLink{RTTMS: 84, UpMbps: 20, DownMbps: 20, Measured: &protocol.LinkEstimate{RTTMS: 88, RTTSamples: 6}},
			"\nWAN (placement): round trip 84.0ms, down 20.0 Mbit/s, up 20.0 Mbit/s (configured); measured 88.0ms over 6 probes\n"},
		{&protocol.WANLink{RTTMS: 60, UpMbps: 12, DownMbps: 20, Measured: &protocol.LinkEstimate{UpMbps: 4, UpMbpsSamples: 1}},
			"\nWAN (placement): round trip 60.0ms, down 20.0 Mbit/s, up 12.0 Mbit/s; measured up 4.0 Mbit/s over 1 transfers\n"},
		{&protocol.WANLink{RTTMS: 84, UpMbps: 12, DownMbps: 9.24, Measured: &protocol.LinkEstimate{RTTMS: 88, RTTSamples: 6, Mbps: 7.9, MbpsSamples: 8, UpMbps: 4, UpMbpsSamples: 1}},
			"\nWAN (placement): round trip 84.0ms, down 9.2 Mbit/s, up 12.0 Mbit/s; measured 88.0ms over 6 probes, down 7.9 Mbit/s over 8 transfers, up 4.0 Mbit/s over 1 transfers\n"},
	} {
		var b strings.Builder
		printWAN(&b, c.wan)
		if b.String() != c.want {
			t.Errorf("printWAN(%+v) = %q, want %q", c.wan, b.String(), c.want)
		}
	}
}

func TestPasswdAddsVerifiableUsers(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "credentials")
	env, out, _ := testEnv("")
	if err := Run(context.Background(), env, []string{"passwd", "-f", file, "add", "pi-a"}); err != nil {
		t.Fatal(err)
	}
	generated := strings.TrimSpace(out.String())
	if len(generated) < 20 {
		t.Fatalf("generated password %q is too short", generated)
	}
	env, _, _ = testEnv("s3cret-from-stdin\n")
	if err := Run(context.Background(), env, []string{"passwd", "-f", file, "--stdin", "add", "pi-b"}); err != nil {
		t.Fatal(err)
	}
	creds, err := mqttd.LoadCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	if !creds.Verify("pi-a", generated) || !creds.Verify("pi-b", "s3cret-from-stdin") || creds.Verify("pi-b", "wrong") {
		t.Fatal("stored credentials do not verify as written")
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("credentials file mode %v is readable by others", st.Mode().Perm())
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := [][]string{
		{"bogus"},
		{"passwd", "add", "x"},
		{"passwd", "-f", "/tmp/x", "add", "bad/user"},
		{"serve", "--region", "a/b"},
		{"nodes", "--broker", "tcp://bad host:1883"},
	}
	for _, args := range cases {
		env, _, _ := testEnv("")
		if err := Run(context.Background(), env, args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	for _, arg := range []string{"version", "--version", "-version"} {
		env, out, _ := testEnv("")
		if err := Run(context.Background(), env, []string{arg}); err != nil || strings.TrimSpace(out.String()) != "v-test" {
			t.Errorf("%s: %v %q", arg, err, out.String())
		}
	}
	for _, cmd := range []string{"serve", "nodes", "passwd", "sim"} {
		env, _, errb := testEnv("")
		if err := Run(context.Background(), env, []string{cmd, "--help"}); err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(errb.String(), "Usage: tether-broker "+cmd) {
			t.Errorf("%s --help printed %q", cmd, errb.String())
		}
	}
}

// TestBadFlagPrintsOneHint: a bad flag or value prints its error and one
// line pointing at --help, for every command; --help prints the usage.
func TestBadFlagPrintsOneHint(t *testing.T) {
	t.Parallel()
	for name := range commands() {
		if name == "version" {
			continue
		}
		for _, args := range [][]string{{name, "--no-such-flag"}, {name, "--timeout", "soon"}} {
			env, _, errb := testEnv("")
			if err := Run(context.Background(), env, args); err == nil {
				t.Errorf("%q: no error", args)
			}
			want := "run 'tether-broker " + name + " --help' for its flags"
			if got := errb.String(); !strings.Contains(got, want) || strings.Count(got, "\n") > 2 || strings.Contains(got, "Usage") {
				t.Errorf("%q printed %d lines, want the error and %q:\n%s", args, strings.Count(got, "\n"), want, got)
			}
		}
		env, _, errb := testEnv("")
		if err := Run(context.Background(), env, []string{name, "--help"}); err != nil {
			t.Errorf("%s --help: %v", name, err)
		}
		if !strings.Contains(errb.String(), "Usage") && !strings.Contains(errb.String(), "  -") {
			t.Errorf("%s --help printed %q", name, errb.String())
		}
	}
}
