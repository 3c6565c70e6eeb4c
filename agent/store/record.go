package store

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what an outbox record carries, and so whether the outbox may
// thin it out when full: metrics may be downsampled or dropped, status and
// task events never are. The values are stored: never renumber them.
type Kind uint8

const (
	KindMetrics   Kind = 1
	KindTaskEvent Kind = 2
	KindStatus    Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindMetrics:
		return "metrics"
	case KindTaskEvent:
		return "task-event"
	case KindStatus:
		return "status"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindMetrics && k <= KindStatus }

// droppable: only metrics may be downsampled or dropped.
func (k Kind) droppable() bool { return k == KindMetrics }

// Record is one message in the outbox: committed before it is published,
// deleted after the broker's PUBACK.
type Record struct {
	Seq      uint64
	Kind     Kind
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
	Created  time.Time // the agent's wall clock at Append (no RTC: maybe wrong before NTP)
}

// Limits on what a record may hold.
const (
	MaxTopicLen   = 1024      // MQTT allows 65,535; Tether's topics are short
	MaxPayloadLen = 256 << 10 // metrics are ~1 KiB, task events a few KiB
)

const recordFormat = 1

const flagRetained = 1 << 0

// encodeRecord is the value stored under o/<seq>.
func encodeRecord(r Record) []byte {
	e := newEncoder(recordFormat, len(r.Topic)+len(r.Payload)+32)
	e.byte(byte(r.Kind))
	var flags byte
	if r.Retained {
		flags |= flagRetained
	}
	e.byte(flags)
	e.byte(r.QoS)
	e.u64(r.Seq)
	e.time(r.Created)
	e.str(r.Topic)
	e.bytes(r.Payload)
	return e.finish()
}

// decodeRecord reads the value of o/<seq>, checking it is that record.
func decodeRecord(seq uint64, value []byte) (Record, error) {
	d := newDecoder(fmt.Sprintf("outbox record %d", seq), value, recordFormat)
	var r Record
	r.Kind = Kind(d.byte())
	flags := d.byte()
	r.QoS = d.byte()
	r.Seq = d.seq()
	r.Created = d.time()
	r.Topic = d.str(MaxTopicLen)
	payload := d.bytes(MaxPayloadLen)
	if err := d.done(); err != nil {
		return Record{}, err
	}
	switch {
	case !r.Kind.valid():
		d.fail("unknown kind %d", r.Kind)
	case flags&^flagRetained != 0:
		d.fail("unknown flags %#x", flags)
	case r.QoS > 2:
		d.fail("QoS %d", r.QoS)
	case r.Seq != seq:
		d.fail("holds seq %d", r.Seq)
	}
	if err := checkTopic(r.Topic); err != nil {
		d.fail("%v", err)
	}
	if d.err != nil {
		return Record{}, d.err
	}
	r.Retained = flags&flagRetained != 0
	r.Payload = append([]byte(nil), payload...)
	return r, nil
}

// checkTopic accepts what MQTT lets a client publish to.
func checkTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("empty topic")
	case len(t) > MaxTopicLen:
		return fmt.Errorf("topic of %d bytes, above %d", len(t), MaxTopicLen)
	case !utf8.ValidString(t):
		return fmt.Errorf("topic is not UTF-8")
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("topic %q has a wildcard or NUL", t)
	}
	return nil
}

// defaults for what Append does not take: status messages are retained
// (the last one is the node's state), every record goes with QoS 1.
func (k Kind) qos() byte      { return 1 }
func (k Kind) retained() bool { return k == KindStatus }
