package mqttd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient speaks MQTT byte by byte over TCP, for what paho cannot do:
// MQTT 5, and packets larger than a client would build in memory.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	v    byte // protocol version: 4 (3.1.1) or 5
}

// rawConnect connects user with client id id and returns once the broker
// sent CONNACK; ok is whether the CONNACK accepted.
func rawConnect(t testing.TB, addr string, v byte, user, id string) (*rawClient, bool) {
	t.Helper()
	return rawConnectClean(t, addr, v, user, id, true)
}

// rawConnectClean is rawConnect with the clean-session (clean-start) flag
// given: false resumes a persistent session.
func rawConnectClean(t testing.TB, addr string, v byte, user, id string, clean bool, edit ...func(*packets.Packet)) (*rawClient, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), v: v}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: v,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			ClientIdentifier: id,
			Clean:            clean,
			Keepalive:        30,
			UsernameFlag:     true,
			Username:         []byte(user),
			PasswordFlag:     true,
			Password:         []byte(password(user)),
		},
	}
	for _, e := range edit {
		e(&pk)
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.write(buf.Bytes())
	typ, body := c.read()
	if typ != packets.Connack || len(body) < 2 {
		t.Fatalf("want CONNACK, got packet type %d", typ)
	}
	return c, body[1] == 0
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// publish sends a PUBLISH with packet id 1 (for QoS > 0).
func (c *rawClient) publish(topic string, qos byte, retain bool, payload []byte) {
	c.t.Helper()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		ProtocolVersion: c.v,
		TopicName:       topic,
		Payload:         payload,
	}
	if qos > 0 {
		pk.PacketID = 1
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		c.t.Fatal(err)
	}
	c.write(buf.Bytes())
}

// send encodes and writes pk (a PUBLISH, PUBACK, SUBSCRIBE or
// UNSUBSCRIBE) in the client's protocol version.
func (c *rawClient) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = c.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1 // [MQTT-3.8.1-1]
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		pk.FixedHeader.Qos = 1 // [MQTT-3.10.1-1]
		err = pk.UnsubscribeEncode(&buf)
	default:
		c.t.Fatalf("send: packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(buf.Bytes())
}

// next reads packets until one of type typ and returns it decoded; it
// fails the test after 10 s.
func (c *rawClient) next(typ byte) packets.Packet {
	c.t.Helper()
	for {
		h, body, err := c.tryReadHeader(10 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for packet type %d: %v", typ, err)
		}
		if h>>4 != typ {
			continue
		}
		pk := packets.Packet{ProtocolVersion: c.v}
		if err := pk.FixedHeader.Decode(h); err != nil {
			c.t.Fatal(err)
		}
		switch typ {
		case packets.Publish:
			err = pk.PublishDecode(body)
		case packets.Puback:
			err = pk.PubackDecode(body)
		case packets.Suback:
			err = pk.SubackDecode(body)
		case packets.Unsuback:
			err = pk.UnsubackDecode(body)
		default:
			c.t.Fatalf("next: packet type %d", typ)
		}
		if err != nil {
			c.t.Fatalf("decode packet type %d: %v", typ, err)
		}
		return pk
	}
}

// read returns the next packet's type and body; it fails the test after
// 10 s or when the connection ends.
func (c *rawClient) read() (byte, []byte) {
	c.t.Helper()
	typ, body, err := c.tryRead(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return typ, body
}

func (c *rawClient) tryRead(d time.Duration) (byte, []byte, error) {
	h, body, err := c.tryReadHeader(d)
	return h >> 4, body, err
}

// tryReadHeader is tryRead returning the whole first byte (type and flags).
func (c *rawClient) tryReadHeader(d time.Duration) (byte, []byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	h, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return h, body, nil
}

// closed reports whether the broker closed the connection within 10 s,
// discarding whatever it sent before.
func (c *rawClient) closed() bool {
	for {
		_, _, err := c.tryRead(10 * time.Second)
		if err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
}
