package mqttd

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{Region: "eu-1", CredentialsFile: "x"}
	o.ensureDefaults()
	if o.Addr != DefaultAddr || o.MaxPendingWrites != 1024 || o.SessionExpiry != 7*24*time.Hour || o.Logger == nil {
		t.Errorf("defaults not filled: %+v", o)
	}
	if err := (Options{Region: "eu-1", CredentialsFile: "x"}).Validate(); err != nil {
		t.Errorf("nearly empty options: %v", err)
	}
	tlsOnly := Options{TLSAddr: ":8883"}
	if tlsOnly.ensureDefaults(); tlsOnly.Addr != "" {
		t.Errorf("Addr = %q with only TLSAddr set, want no plain listener", tlsOnly.Addr)
	}
	if err := (Options{Region: "eu-1", AllowAnonymous: true}).Validate(); err != nil {
		t.Errorf("anonymous on the default loopback listener: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	base := func() Options { return Options{Region: "eu-1", CredentialsFile: "creds"} }
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no region", func(o *Options) { o.Region = "" }, "region is empty"},
		{"bad region", func(o *Options) { o.Region = "eu/1" }, "region \"eu/1\""},
		{"no credentials", func(o *Options) { o.CredentialsFile = "" }, "tether-broker passwd"},
		{"anonymous on all interfaces", func(o *Options) { o.AllowAnonymous = true; o.Addr = ":1883" }, "only on a loopback listener"},
		{"anonymous on a LAN address", func(o *Options) { o.AllowAnonymous = true; o.Addr = "192.0.2.1:1883" }, "only on a loopback listener"},
		{"anonymous with TLS", func(o *Options) {
			o.AllowAnonymous = true
			o.TLSAddr, o.CertFile, o.KeyFile = ":8883", "c", "k"
		}, "plain loopback listener"},
		{"TLS without cert", func(o *Options) { o.TLSAddr = ":8883" }, "needs a certificate and key"},
		{"cert without TLS", func(o *Options) { o.ClientCAFile = "ca" }, "no TLS listen address"},
		{"bad addr", func(o *Options) { o.Addr = "1883" }, "want host:port"},
		{"same addr", func(o *Options) { o.Addr, o.TLSAddr, o.CertFile, o.KeyFile = ":1", ":1", "c", "k" }, "both use"},
		{"user in two roles", func(o *Options) { o.SchedulerUsers, o.MonitorUsers = []string{"ops"}, []string{"ops"} }, "listed as scheduler and as monitor"},
		{"bad user", func(o *Options) { o.MonitorUsers = []string{"a b"} }, "monitor user"},
		{"tiny pending writes", func(o *Options) { o.MaxPendingWrites = 1 }, "MaxPendingWrites is 1"},
		{"huge inflight", func(o *Options) { o.MaxInflight = 70000 }, "65535"},
		{"connect over packet", func(o *Options) { o.MaxPacketSize, o.MaxConnectSize = 8<<10, 16<<10 }, "MaxConnectSize"},
		{"negative clients", func(o *Options) { o.MaxClients = -1 }, "MaxClients"},
		{"short session", func(o *Options) { o.SessionExpiry = time.Millisecond }, "SessionExpiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.change(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want it to contain %q", err, tt.want)
			}
			if _, nerr := New(o); nerr == nil {
				t.Error("New accepted options Validate refuses")
			}
		})
	}
	// Every problem at once.
	err := Options{AllowAnonymous: true, Addr: ":1", MaxInflight: 1}.Validate()
	if n := strings.Count(err.Error(), "\n") + 1; n < 3 {
		t.Errorf("Validate reported %d problems, want all (≥3): %v", n, err)
	}
}

func TestNewLoadErrors(t *testing.T) {
	o := Options{Region: "eu-1", CredentialsFile: t.TempDir() + "/missing"}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("New with a missing credentials file = %v", err)
	}
	o = Options{Region: "eu-1", AllowAnonymous: true, Addr: "", TLSAddr: "127.0.0.1:0", CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}
	if _, err := New(o); err == nil {
		t.Error("New accepted a TLS listener on loopback with anonymous clients")
	}
	o.AllowAnonymous, o.CredentialsFile = false, writeTestCredentials(t)
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "nonexistent.crt") {
		t.Errorf("New with a missing certificate = %v", err)
	}
}
