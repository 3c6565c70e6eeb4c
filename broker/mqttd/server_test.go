package mqttd

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestRunLifecycle(t *testing.T) {
	s, err := New(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil || s.TLSAddr() != nil {
		t.Error("addresses set before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	addr := s.Addr()
	if addr == nil || strings.HasSuffix(addr.String(), ":0") {
		t.Fatalf("Addr = %v, want the bound port", addr)
	}
	if s.TLSAddr() != nil {
		t.Errorf("TLSAddr = %v without a TLS listener", s.TLSAddr())
	}
	c := mustDial(t, addr.String(), "node-a")
	if err := s.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !c.isLost(5 * time.Second) {
		t.Error("client still connected after shutdown")
	}
	if conn, err := net.Dial("tcp", addr.String()); err == nil {
		conn.Close()
		t.Error("listener still accepting after Run returned")
	}
}

// An idle socket that never sends CONNECT must not hold up shutdown (mochi
// sets no deadline before CONNECT and waits for every connection).
func TestShutdownWithIdleConnection(t *testing.T) {
	opts := testOptions(t)
	opts.ConnectTimeout = time.Hour
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	half, _ := net.Dial("tcp", s.Addr().String())
	defer half.Close()
	half.Write([]byte{0x10, 0x20}) // a CONNECT header, then nothing
	mustDial(t, s.Addr().String(), "node-a")
	time.Sleep(50 * time.Millisecond) // kept: let the server accept them; nothing shows a connection before its CONNECT

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run blocked on an idle connection")
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("idle connection read = %v, want EOF", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "closed"))
}

func TestConnectTimeout(t *testing.T) {
	opts := testOptions(t)
	opts.ConnectTimeout = 200 * time.Millisecond
	s := startServer(t, opts)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read = %v, want the server to close the connection", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v, want ~200ms", d)
	}
}

// A CONNECT that declares more than MaxConnectSize is refused before mochi
// allocates it.
func TestOversizedConnectRefused(t *testing.T) {
	s := startServer(t, testOptions(t))
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// CONNECT with remaining length 16 MiB (varint 0x80 0x80 0x80 0x08).
	c.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x08})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read = %v, want the connection closed", err)
	}
	mustDial(t, s.Addr().String(), "node-a") // the broker is fine
}

func TestPacketGuard(t *testing.T) {
	for _, tt := range []struct {
		name  string
		bytes []byte
		ok    bool
	}{
		{"small", []byte{0x10, 0x7f}, true},
		{"at limit", []byte{0x10, 0x80, 0x08}, true}, // 1024
		{"over limit", []byte{0x10, 0x81, 0x08}, false},
		{"16 MiB", []byte{0x10, 0x80, 0x80, 0x80, 0x08}, false},
		{"split header", []byte{0x10, 0xff, 0xff}, false},
		{"malformed 5-byte length", []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x01}, false},
		// CONNECT of 2 bytes, then a PUBLISH of 512 (over the later limit of 256).
		{"second packet over its limit", []byte{0x10, 0x02, 0, 0, 0x30, 0x80, 0x04}, false},
		// CONNECT of 2, PUBLISH of 200, then PINGREQ: every header found.
		{"second packet within", append(append([]byte{0x10, 0x02, 0, 0, 0x30, 0xc8, 0x01}, make([]byte, 200)...), 0xc0, 0x00), true},
		// A body byte that looks like a huge length is skipped, not parsed.
		{"body skipped", []byte{0x10, 0x03, 0xff, 0xff, 0xff, 0x30, 0x01, 0xff}, true},
	} {
		g := packetGuard{maxFirst: 1024}
		var limit atomic.Int64
		limit.Store(256)
		var err error
		for _, b := range tt.bytes { // one byte per Read: the worst split
			if err = g.feed([]byte{b}, &limit); err != nil {
				break
			}
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
		g2 := packetGuard{maxFirst: 1024}
		if err2 := g2.feed(tt.bytes, &limit); (err2 == nil) != (err == nil) {
			t.Errorf("%s: one Read: err = %v, byte by byte: %v", tt.name, err2, err)
		}
	}
}

func TestBindError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	opts := testOptions(t)
	opts.Addr = l.Addr().String()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("Run = %v, want a listen error naming the address", err)
	}
	select {
	case <-s.Ready():
		t.Error("Ready closed although Run failed")
	default:
	}
}

// mochi deletes retained messages older than MaximumMessageExpiryInterval
// (86400s by default) in a sweep every second. Node births are retained for
// the node's lifetime, so the interval must be 0, which mochi treats as "no
// limit". Plant a two-day-old retained birth and let a sweep run.
func TestRetainedMessagesDoNotExpire(t *testing.T) {
	s := startServer(t, testOptions(t))
	if got := s.mochi.Options.Capabilities.MaximumMessageExpiryInterval; got != 0 {
		t.Fatalf("MaximumMessageExpiryInterval = %d, want 0", got)
	}
	old := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true, Qos: 1},
		TopicName:   nodeA + "/status",
		Payload:     []byte("born two days ago"),
		Created:     time.Now().Add(-48 * time.Hour).Unix(),
		Origin:      "node-a",
	}
	s.mochi.Topics.RetainMessage(old)
	time.Sleep(1500 * time.Millisecond) // kept: a real sweep of mochi's (every second) must run

	c := mustDial(t, s.Addr().String(), "scheduler")
	c.subscribe(nodeA+"/status", 1)
	c.await("born two days ago")
}

func TestReload(t *testing.T) {
	opts := testOptions(t)
	s := startServer(t, opts)
	addr := s.Addr().String()
	if _, err := dial(t, addr, "node-c"); err == nil {
		t.Fatal("node-c connected before it was added")
	}
	if err := AddUser(opts.CredentialsFile, "node-c", password("node-c")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	mustDial(t, addr, "node-c")

	// A broken file is refused and the loaded credentials stay.
	os.WriteFile(opts.CredentialsFile, []byte("node-d:plaintext\n"), 0o600)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("Reload of a broken file = %v, want an error with its line", err)
	}
	mustDial(t, addr, "node-b")
}

func TestAnonymousLoopbackMonitor(t *testing.T) {
	opts := testOptions(t)
	opts.CredentialsFile = ""
	opts.AllowAnonymous = true
	s := startServer(t, opts)
	anon, err := dialWith(t, s.Addr().String(), dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if g := anon.subscribe("tether/v1/#", 1); g != 1 {
		t.Errorf("anonymous monitor subscribe = %#x, want 1", g)
	}
	if g := anon.subscribe("$SYS/#", 0); g != 0x80 {
		t.Errorf("anonymous $SYS subscribe = %#x, want 0x80", g)
	}
	n, err := dialWith(t, s.Addr().String(), dialOpts{user: "node-a", clientID: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	n.mustPublish(nodeA+"/metrics", 1, "m")
	anon.await("m")
}
