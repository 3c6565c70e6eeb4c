package task

import (
	"fmt"
	"strings"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ReplyTopic is a parsed reply topic,
// tether/v1/<region>/replies/<client>/<request> (protocol.Topics.Reply).
type ReplyTopic struct {
	Region  string
	Client  string // the requester's MQTT username
	Request string // the request id
}

// ParseReplyTo parses a request's ReplyTo. Decoders accept no other shape,
// so a request cannot make the scheduler publish its reply anywhere but in
// a replies subtree: never on a node's command topic, a status topic or in
// another region's tree. The scheduler still checks that Region is its own
// and, where the broker tells it the publisher's username, that Client is
// that username.
func ParseReplyTo(topic string) (ReplyTopic, error) {
	rest, ok := strings.CutPrefix(topic, protocol.Root+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 4 || parts[1] != "replies" {
		return ReplyTopic{}, fmt.Errorf("%s is not a reply topic, %s/<region>/replies/<username>/<request_id>", quote(topic), protocol.Root)
	}
	r := ReplyTopic{Region: parts[0], Client: parts[2], Request: parts[3]}
	for _, c := range []struct{ what, s string }{{"region", r.Region}, {"username", r.Client}, {"request id", r.Request}} {
		if err := checkID(c.what, c.s); err != nil {
			return ReplyTopic{}, fmt.Errorf("reply topic: %w", err)
		}
	}
	return r, nil
}
