package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// wire is one MQTT 3.1.1 connection, encoded and decoded with mochi's
// packets package over a plain net.Conn. It has no goroutine of its own:
// its owner reads and writes from one goroutine, which is what lets ten
// thousand sessions fit in one process (a paho client costs several
// goroutines and buffers).
type wire struct {
	c    net.Conn
	r    *bufio.Reader
	wbuf bytes.Buffer
	rbuf []byte
	in   *counter // bytes read, shared by every wire of a role
}

// readBuf is the read buffer of one connection: a node receives PUBACKs,
// its own retained birth and an occasional command.
const readBuf = 512

// maxIncoming bounds a packet a wire accepts: a fleet table of an older
// scheduler, up to 16 MiB, is the largest a monitor may be sent.
const maxIncoming = 17 << 20

func dialWire(addr string, timeout time.Duration, in *counter) (*wire, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &wire{c: c, r: bufio.NewReaderSize(c, readBuf), in: in}, nil
}

// connect sends CONNECT and waits for a CONNACK, within timeout.
func (w *wire) connect(clientID, user, password string, clean bool, keepAlive time.Duration, will *packets.Packet, timeout time.Duration) (sessionPresent bool, err error) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: clean, Keepalive: uint16(keepAlive / time.Second),
			ClientIdentifier: clientID, UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(password)}}
	if will != nil {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, will.TopicName, will.Payload
		pk.Connect.WillQos, pk.Connect.WillRetain = will.FixedHeader.Qos, will.FixedHeader.Retain
	}
	w.c.SetDeadline(time.Now().Add(timeout))
	defer w.c.SetDeadline(time.Time{})
	if err := w.write(&pk); err != nil {
		return false, err
	}
	ack, err := w.read()
	if err != nil {
		return false, err
	}
	if ack.FixedHeader.Type != packets.Connack {
		return false, fmt.Errorf("want CONNACK, got packet type %d", ack.FixedHeader.Type)
	}
	if ack.ReasonCode != 0 {
		return false, fmt.Errorf("connection refused: CONNACK code %#x", ack.ReasonCode)
	}
	return ack.SessionPresent, nil
}

// write encodes and sends one packet.
func (w *wire) write(pk *packets.Packet) error {
	w.wbuf.Reset()
	pk.ProtocolVersion = 4
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&w.wbuf)
	case packets.Publish:
		err = pk.PublishEncode(&w.wbuf)
	case packets.Puback:
		err = pk.PubackEncode(&w.wbuf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&w.wbuf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&w.wbuf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&w.wbuf)
	default:
		err = fmt.Errorf("loadgen sends no packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}
	_, err = w.c.Write(w.wbuf.Bytes())
	return err
}

// read receives one packet. A PUBLISH's payload and topic name alias the
// wire's buffer (mochi decodes strings without copying): they are valid
// until the next read.
func (w *wire) read() (packets.Packet, error) {
	var pk packets.Packet
	pk.ProtocolVersion = 4
	hb, err := w.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(w.r)
	if err != nil {
		return pk, err
	}
	if n > maxIncoming {
		return pk, fmt.Errorf("incoming packet of %d bytes is too large", n)
	}
	pk.FixedHeader.Remaining = n
	if cap(w.rbuf) < n {
		w.rbuf = make([]byte, n)
	}
	buf := w.rbuf[:n]
	if _, err := io.ReadFull(w.r, buf); err != nil {
		return pk, err
	}
	if w.in != nil {
		w.in.add(int64(n + 2))
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	case packets.Puback:
		err = pk.PubackDecode(buf)
	case packets.Suback:
		err = pk.SubackDecode(buf)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	if len(w.rbuf) > 64<<10 && n < 64<<10 {
		w.rbuf = nil // one large message: do not keep its buffer per wire
	}
	return pk, err
}

func (w *wire) close() error { return w.c.Close() }

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func publishPacket(topic string, payload []byte, retained bool, id uint16) *packets.Packet {
	return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: retained},
		TopicName: topic, Payload: payload, PacketID: id}
}

func subscribePacket(id uint16, filters ...string) *packets.Packet {
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	return pk
}

func pubackPacket(id uint16) *packets.Packet {
	return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id}
}
