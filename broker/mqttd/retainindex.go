package mqttd

import (
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainIndex is the broker's own index of the topics that hold a retained
// message, for the replays that read them from another goroutine than the
// publisher's (retainedHook, Receiver.Start). mochi's Topics.Messages walks
// its subscription tree without the locks its RetainMessage writes under,
// so a replay beside a retained publish is a data race in mochi (seen by
// the race detector in TestBurstAdmission). The index is fed by
// OnRetainMessage, after mochi stored the message; the messages themselves
// are read from mochi's retained map, which has its own lock.
type retainIndex struct {
	mu   sync.RWMutex
	root rnode
}

// rnode is one topic level; topic is set when a retained message is held
// at this level.
type rnode struct {
	kids  map[string]*rnode
	topic string
}

// set records that topic holds a retained message (held) or no longer does.
func (x *retainIndex) set(topic string, held bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	levels := strings.Split(topic, "/")
	if !held {
		x.root.remove(levels, 0)
		return
	}
	n := &x.root
	for _, l := range levels {
		k := n.kids[l]
		if k == nil {
			if n.kids == nil {
				n.kids = map[string]*rnode{}
			}
			k = &rnode{}
			n.kids[l] = k
		}
		n = k
	}
	n.topic = topic
}

// remove clears the topic at levels[i:] below n and reports whether n is
// left empty, so its parent drops it.
func (n *rnode) remove(levels []string, i int) bool {
	if i == len(levels) {
		n.topic = ""
	} else if k := n.kids[levels[i]]; k != nil && k.remove(levels, i+1) {
		delete(n.kids, levels[i])
	}
	return n.topic == "" && len(n.kids) == 0
}

// topics returns the topics holding a retained message that filter
// matches, with MQTT's rules: + one level, # the rest (the parent level
// too), and a topic starting with $ matched by no wildcard at the first
// level [MQTT-4.7.2-1].
func (x *retainIndex) topics(filter string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	x.root.match(strings.Split(filter, "/"), 0, &out)
	return out
}

func (n *rnode) match(levels []string, i int, out *[]string) {
	if i == len(levels) {
		if n.topic != "" {
			*out = append(*out, n.topic)
		}
		return
	}
	switch l := levels[i]; l {
	case "#":
		if i > 0 && n.topic != "" {
			*out = append(*out, n.topic)
		}
		for key, k := range n.kids {
			if i == 0 && strings.HasPrefix(key, "$") {
				continue
			}
			k.all(out)
		}
	case "+":
		for key, k := range n.kids {
			if i == 0 && strings.HasPrefix(key, "$") {
				continue
			}
			k.match(levels, i+1, out)
		}
	default:
		if k := n.kids[l]; k != nil {
			k.match(levels, i+1, out)
		}
	}
}

// all appends every topic at or below n.
func (n *rnode) all(out *[]string) {
	if n.topic != "" {
		*out = append(*out, n.topic)
	}
	for _, k := range n.kids {
		k.all(out)
	}
}

// seed indexes every retained message srv holds: those put in its map
// without its hooks (a retained store loaded at start) are found too.
func (x *retainIndex) seed(srv *mqtt.Server) {
	for topic, pk := range srv.Topics.Retained.GetAll() {
		if len(pk.Payload) > 0 {
			x.set(topic, true)
		}
	}
}

// messages returns the retained messages of srv that filter matches. A
// filter without wildcards is looked up in mochi's map directly.
func (x *retainIndex) messages(srv *mqtt.Server, filter string) []packets.Packet {
	var out []packets.Packet
	for _, t := range x.candidates(filter) {
		if pk, ok := srv.Topics.Retained.Get(t); ok && len(pk.Payload) > 0 {
			out = append(out, pk)
		}
	}
	return out
}

// candidates returns the topics that may hold a retained message filter
// matches (the filter itself when it has no wildcard): names only, each
// read from mochi's map when its turn comes, so a replay of thousands holds
// a string header per message, not the message.
func (x *retainIndex) candidates(filter string) []string {
	if strings.ContainsAny(filter, "+#") {
		return x.topics(filter)
	}
	return []string{filter}
}

// retainIndexHook keeps a retainIndex: mochi calls OnRetainMessage for
// every retained publish, once it has stored it (an empty payload clears).
type retainIndexHook struct {
	mqtt.HookBase
	x *retainIndex
}

func (h *retainIndexHook) ID() string { return "tether-retain-index" }

func (h *retainIndexHook) Provides(b byte) bool { return b == mqtt.OnRetainMessage }

func (h *retainIndexHook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, _ int64) {
	h.x.set(pk.TopicName, len(pk.Payload) > 0)
}
