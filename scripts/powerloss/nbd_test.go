package powerloss

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// nbdClient speaks the client side of the protocol, as qemu does, for the
// server's test.
type nbdClient struct {
	t *testing.T
	c net.Conn
}

func (c nbdClient) send(vs ...any) {
	c.t.Helper()
	for _, v := range vs {
		if err := binary.Write(c.c, binary.BigEndian, v); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c nbdClient) recv(vs ...any) {
	c.t.Helper()
	for _, v := range vs {
		if err := binary.Read(c.c, binary.BigEndian, v); err != nil {
			c.t.Fatal(err)
		}
	}
}

// request sends one command and returns the reply's error and data.
func (c nbdClient) request(typ, flags uint16, handle, off uint64, n uint32, data []byte) (uint32, []byte) {
	c.t.Helper()
	c.send(uint32(nbdReqMagic), flags, typ, handle, off, n)
	if data != nil {
		c.c.Write(data)
	}
	var magic, errno uint32
	var h uint64
	c.recv(&magic, &errno, &h)
	if magic != nbdSimpleReply || h != handle {
		c.t.Fatalf("reply magic %#x handle %d, want %d", magic, h, handle)
	}
	var out []byte
	if typ == nbdCmdRead && errno == 0 {
		out = make([]byte, n)
		if _, err := io.ReadFull(c.c, out); err != nil {
			c.t.Fatal(err)
		}
	}
	return errno, out
}

func TestNBDServer(t *testing.T) {
	d, _ := newTestDisk(t, 8)
	srv, cli := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveNBD(srv, d) }()
	c := nbdClient{t, cli}

	var magic, optMagic uint64
	var hflags uint16
	c.recv(&magic, &optMagic, &hflags)
	if magic != nbdMagic || optMagic != nbdOptMagic || hflags&nbdFlagFixedNewstyle == 0 {
		t.Fatalf("greeting %#x %#x %#x", magic, optMagic, hflags)
	}
	c.send(uint32(nbdFlagFixedNewstyle | nbdFlagNoZeroes))
	// An option the server does not offer, then NBD_OPT_GO.
	c.send(uint64(nbdOptMagic), uint32(8), uint32(0))
	var rm uint64
	var opt, typ, n uint32
	c.recv(&rm, &opt, &typ, &n)
	if typ != nbdRepErrUnsup || n != 0 {
		t.Fatalf("structured replies: reply %#x len %d, want unsupported", typ, n)
	}
	c.send(uint64(nbdOptMagic), uint32(nbdOptGo), uint32(6), uint32(0), uint16(0))
	c.recv(&rm, &opt, &typ, &n)
	info := make([]byte, n)
	io.ReadFull(cli, info)
	if typ != nbdRepInfo || binary.BigEndian.Uint64(info[2:]) != 8*blockSize ||
		binary.BigEndian.Uint16(info[10:])&nbdTransSendFlush == 0 {
		t.Fatalf("info reply %#x %x", typ, info)
	}
	c.recv(&rm, &opt, &typ, &n)
	if typ != nbdRepAck {
		t.Fatalf("GO ended with %#x, want ACK", typ)
	}

	data := bytes.Repeat([]byte("tether"), 1000)
	if errno, _ := c.request(nbdCmdWrite, 0, 1, 100, uint32(len(data)), data); errno != 0 {
		t.Fatalf("write: errno %d", errno)
	}
	if errno, got := c.request(nbdCmdRead, 0, 2, 100, uint32(len(data)), nil); errno != 0 || !bytes.Equal(got, data) {
		t.Fatalf("read back: errno %d, equal %v", errno, bytes.Equal(got, data))
	}
	if len(d.pending) == 0 {
		t.Error("the write is not in the cache")
	}
	if errno, _ := c.request(nbdCmdFlush, 0, 3, 0, 0, nil); errno != 0 || len(d.pending) != 0 {
		t.Errorf("flush: errno %d, %d blocks still pending", errno, len(d.pending))
	}
	if errno, _ := c.request(nbdCmdRead, 0, 4, 8*blockSize, 1, nil); errno == 0 {
		t.Error("a read past the end succeeded")
	}
	cli.Close() // qemu killed: not an error
	if err := <-done; err != nil {
		t.Errorf("serveNBD after the client vanished: %v", err)
	}
}
