package testenv

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestShapedProxyPacesAndDelays: 1 MB through a 4 Mbit/s, 50 ms link takes
// about 2 s (the rate), and a one-byte echo round trip about 100 ms (the
// delay, both ways); plain loopback does either in milliseconds.
func TestShapedProxyPacesAndDelays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }() // echo
		}
	}()
	p := NewShapedProxy(t, ln.Addr().String(), Shape{Delay: 50 * time.Millisecond, Mbps: 4})
	c, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 100*time.Millisecond || rtt > 400*time.Millisecond {
		t.Errorf("round trip %v, want about 100 ms", rtt)
	}
	const n = 1 << 20
	start = time.Now()
	go func() { _, _ = c.Write(make([]byte, n)) }()
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	// Each direction is paced: the echo's way back overlaps the way there.
	want := time.Duration(float64(n*8) / 4e6 * float64(time.Second))
	if took := time.Since(start); took < want || took > 2*want+time.Second {
		t.Errorf("%d bytes echoed in %v, want about %v at 4 Mbit/s", n, took, want)
	}
}
