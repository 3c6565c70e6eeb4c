package mqttd

import (
	"context"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/logging"
)

// maxLogString bounds every string attribute the broker logs. Client ids
// and topics come from the network and may be 64 KiB long.
const maxLogString = 200

// safeLogger returns the logger the broker's code and mochi's write to:
// every record is rate-limited per message (pkg/logging.NewRateLimited:
// clients trigger nearly every broker log line), MQTT packets are logged
// as a summary without their payload, []byte values by their length, and
// long strings are cut.
//
// mochi logs whole packets — payload included, as decimal bytes — with
// denied or failed publishes ("error processing packet", "publish packet
// error", …): a 10 MiB publish made a 33 MiB log line.
func safeLogger(log *slog.Logger) *slog.Logger {
	return slog.New(&redacting{h: logging.NewRateLimited(log.Handler(), logging.RateLimit{})})
}

// redacting rewrites the attributes of every record before passing it on.
type redacting struct{ h slog.Handler }

func (r *redacting) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redacting) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redacting) WithAttrs(as []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(as))
	for i, a := range as {
		safe[i] = redactAttr(a)
	}
	return &redacting{h: r.h.WithAttrs(safe)}
}

func (r *redacting) WithGroup(name string) slog.Handler {
	return &redacting{h: r.h.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > maxLogString {
			return slog.String(a.Key, s[:maxLogString]+"…")
		}
	case slog.KindGroup:
		g := v.Group()
		safe := make([]slog.Attr, len(g))
		for i, x := range g {
			safe[i] = redactAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(safe...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case packets.Packet:
			return packetSummary(a.Key, &x)
		case *packets.Packet:
			if x != nil {
				return packetSummary(a.Key, x)
			}
		case []byte:
			return slog.Int(a.Key+"_bytes", len(x))
		case error:
			if s := x.Error(); len(s) > maxLogString {
				return slog.String(a.Key, s[:maxLogString]+"…")
			}
		}
	}
	return a
}

// packetSummary is what the log says about a packet: never its payload.
func packetSummary(key string, pk *packets.Packet) slog.Attr {
	topic := pk.TopicName
	if len(topic) > maxLogString {
		topic = topic[:maxLogString] + "…"
	}
	return slog.Group(key,
		"type", packets.PacketNames[pk.FixedHeader.Type],
		"topic", topic,
		"qos", pk.FixedHeader.Qos,
		"retain", pk.FixedHeader.Retain,
		"id", pk.PacketID,
		"payload_bytes", len(pk.Payload),
	)
}
