package mqttd

import (
	"strings"

	"github.com/tether-edge/tether/pkg/protocol"
)

// role is what an authenticated user may do; see policy.allowed.
type role uint8

const (
	roleNode      role = iota + 1 // username is the node id
	roleScheduler                 // readwrite tether/v1/<region>/#
	roleMonitor                   // read tether/v1/#
	roleOperator                  // a monitor that may also submit and control tasks
	roleEnrol                     // "enrol-<token id>": an agent asking for its credentials
)

// EnrolUserPrefix starts the username of a site enrolment token's identity
// (broker/enrol). Its client id is "<username>@<node>"; it may publish only
// tether/v1/R/enrol/<node>/request and read only …/enrol/<node>/reply.
const EnrolUserPrefix = "enrol-"

func (r role) String() string {
	switch r {
	case roleNode:
		return "node"
	case roleScheduler:
		return "scheduler"
	case roleMonitor:
		return "monitor"
	case roleOperator:
		return "operator"
	case roleEnrol:
		return "enrol"
	}
	return "none"
}

// policy is Tether's topic ACL for one region. It is immutable after
// newPolicy, so it is shared without locks. The same check serves SUBSCRIBE
// filters and, on every delivery, concrete topic names (mochi calls
// OnACLCheck(read) per message per subscriber), so it must not allocate.
//
//	role       write (publish)                       read (subscribe/deliver)
//	scheduler  tether/v1/R/…                         tether/v1/R/…
//	monitor    nothing                               tether/v1/… but blob frames
//	operator O tether/v1/R/tasks/submit|control      tether/v1/… but blob frames
//	           tether/v1/R/operators/O/blob           tether/v1/R/operators/O/cmd/blob
//	           (replies come on tether/v1/R/replies/<operator>/…, readable by monitors too)
//	node N     tether/v1/R/nodes/N/status|metrics|tasks|blob  tether/v1/R/nodes/N/cmd[/…]
//	                                                 tether/v1/R/nodes/N/status
//	enrol-T@N  tether/v1/R/enrol/N/request             tether/v1/R/enrol/N/reply
//
// Blob frames (tether/v1/R/nodes/N/blob and …/cmd/blob, and the same under
// tether/v1/R/operators/O/) are task data: a monitor receives none of them,
// an operator only those the scheduler sends it. A filter naming only them is
// refused; a wider one (tether/v1/#) is granted and the frames are held back
// on delivery, where mochi checks every message's topic name.
//
// With Home Assistant discovery on (Options.DiscoveryPrefix D), the
// scheduler also writes and reads D/…, and monitors and operators read it.
//
// A filter is granted only if every topic it can match is readable: the
// levels up to the role's subtree are compared literally, so a '+' or '#'
// there is refused rather than narrowed.
type policy struct {
	region      string
	regionTopic string // tether/v1/R
	nodesPrefix string // tether/v1/R/nodes/
	opsPrefix   string // tether/v1/R/operators/
	enrolPrefix string // tether/v1/R/enrol/
	schedulers  map[string]struct{}
	monitors    map[string]struct{}
	operators   map[string]string // name → the same name, for lookups by []byte that must not allocate
	submit      string            // tether/v1/R/tasks/submit
	control     string            // tether/v1/R/tasks/control
	discovery   string            // Home Assistant's discovery prefix; empty: off
}

// withDiscovery returns p with Home Assistant discovery under prefix
// (empty: off).
func (p *policy) withDiscovery(prefix string) *policy {
	p.discovery = prefix
	return p
}

// inDiscovery reports whether topic lies under the discovery prefix.
func (p *policy) inDiscovery(topic string) bool {
	return p.discovery != "" && (topic == p.discovery || hasLevelPrefix(topic, p.discovery))
}

func newPolicy(region string, schedulers, monitors, operators []string) *policy {
	topics, _ := protocol.NewTopics(region) // the region was validated with the options
	p := &policy{
		operators:   make(map[string]string, len(operators)),
		submit:      topics.TaskSubmit(),
		control:     topics.TaskControl(),
		region:      region,
		regionTopic: protocol.Root + "/" + region,
		nodesPrefix: protocol.Root + "/" + region + "/nodes/",
		opsPrefix:   protocol.Root + "/" + region + "/operators/",
		enrolPrefix: protocol.Root + "/" + region + "/enrol/",
		schedulers:  make(map[string]struct{}, len(schedulers)),
		monitors:    make(map[string]struct{}, len(monitors)),
	}
	for _, u := range schedulers {
		p.schedulers[u] = struct{}{}
	}
	for _, u := range monitors {
		p.monitors[u] = struct{}{}
	}
	for _, u := range operators {
		p.operators[u] = u
	}
	return p
}

// roleOf returns the role of an authenticated username. The empty username
// (an anonymous client, only ever let in on a loopback listener) is a
// monitor: it has no node id to act as.
func (p *policy) roleOf(user string) role {
	if _, ok := p.schedulers[user]; ok {
		return roleScheduler
	}
	if _, ok := p.operators[user]; ok {
		return roleOperator
	}
	if _, ok := p.monitors[user]; ok || user == "" {
		return roleMonitor
	}
	if strings.HasPrefix(user, EnrolUserPrefix) {
		return roleEnrol
	}
	return roleNode
}

// operatorName returns the operator's name for a username given as bytes
// (a connected client's), without allocating; "" if it is no operator.
func (p *policy) operatorName(user []byte) string { return p.operators[string(user)] }

// known reports whether user is a scheduler, monitor or operator user.
func (p *policy) known(user string) bool {
	_, s := p.schedulers[user]
	_, m := p.monitors[user]
	_, o := p.operators[user]
	return s || m || o
}

// allowed reports whether a client with role r and username user may
// publish to topic (write) or subscribe to / receive topic (read; a filter or
// a topic name). For roleNode, user must be the node id; for roleEnrol, the
// node id its client id names.
func (p *policy) allowed(r role, user, topic string, write bool) bool {
	if write {
		// A topic name never has wildcards [MQTT-3.3.2-2]; mochi already
		// refuses them, this keeps the policy sound on its own.
		if strings.ContainsAny(topic, "+#") {
			return false
		}
	} else {
		var ok bool
		if topic, ok = stripShare(topic); !ok {
			return false
		}
	}
	switch r {
	case roleScheduler:
		return topic == p.regionTopic || hasLevelPrefix(topic, p.regionTopic) || p.inDiscovery(topic)
	case roleMonitor:
		return !write && p.watcherMayRead(topic)
	case roleOperator:
		if write {
			return topic == p.submit || topic == p.control || p.operatorBlob(user, topic, protocol.KindBlob)
		}
		return p.watcherMayRead(topic) || p.operatorBlob(user, topic, "cmd/"+protocol.CmdBlob)
	case roleNode:
		if user == "" || strings.ContainsAny(user, "/+#") {
			return false
		}
		rest, ok := strings.CutPrefix(topic, p.nodesPrefix)
		if !ok {
			return false
		}
		rest, ok = strings.CutPrefix(rest, user)
		if !ok || !strings.HasPrefix(rest, "/") {
			return false
		}
		rest = rest[1:] // what follows tether/v1/R/nodes/N/
		if write {      // the topics docs/protocol.md lists, nothing below them
			return rest == protocol.KindStatus || rest == protocol.KindMetrics || rest == protocol.KindTasks || rest == protocol.KindBlob
		}
		return rest == protocol.KindStatus || rest == "cmd" || strings.HasPrefix(rest, "cmd/")
	case roleEnrol:
		if user == "" || strings.ContainsAny(user, "/+#") {
			return false
		}
		rest, ok := strings.CutPrefix(topic, p.enrolPrefix)
		if !ok {
			return false
		}
		rest, ok = strings.CutPrefix(rest, user)
		if write {
			return ok && rest == "/request"
		}
		return ok && rest == "/reply"
	}
	return false
}

// operatorBlob reports whether topic is tether/v1/R/operators/<user>/<kind>,
// for a user whose name cannot change the topic's shape. It does not
// allocate.
func (p *policy) operatorBlob(user, topic, kind string) bool {
	if user == "" || strings.ContainsAny(user, "/+#") {
		return false
	}
	rest, ok := strings.CutPrefix(topic, p.opsPrefix)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, user)
	return ok && len(rest) == len(kind)+1 && rest[0] == '/' && rest[1:] == kind
}

// watcherMayRead reports whether a monitor or operator may read topic (a
// filter or a topic name): everything under tether/v1/ (and the discovery
// prefix) but blob frames.
func (p *policy) watcherMayRead(topic string) bool {
	if p.inDiscovery(topic) {
		return true
	}
	return (topic == protocol.Root || hasLevelPrefix(topic, protocol.Root)) && !blobFrames(topic)
}

// blobFrames reports whether topic is tether/v1/<R>/nodes/<N>/blob or
// tether/v1/<R>/nodes/<N>/cmd/blob, or the same under operators/<N>, R and
// N anything ('+' included): the topics that carry blob transfer frames.
// It does not allocate.
func blobFrames(topic string) bool {
	rest, ok := strings.CutPrefix(topic, protocol.Root+"/")
	if !ok {
		return false
	}
	if _, rest, ok = strings.Cut(rest, "/"); !ok { // the region
		return false
	}
	if r, isNode := strings.CutPrefix(rest, "nodes/"); isNode {
		rest = r
	} else if rest, ok = strings.CutPrefix(rest, "operators/"); !ok {
		return false
	}
	if _, rest, ok = strings.Cut(rest, "/"); !ok { // the node or operator
		return false
	}
	return rest == protocol.KindBlob || rest == "cmd/"+protocol.CmdBlob
}

// hasLevelPrefix reports whether topic lies strictly below prefix:
// prefix + "/" + anything.
func hasLevelPrefix(topic, prefix string) bool {
	return len(topic) > len(prefix) && topic[len(prefix)] == '/' && topic[:len(prefix)] == prefix
}

// stripShare returns the filter inside a shared subscription
// "$share/<group>/<filter>" [MQTT-4.8.2], which is what the subscriber can
// receive, or the filter unchanged. ok is false for a malformed share.
func stripShare(filter string) (string, bool) {
	const share = "$share/"
	if len(filter) < len(share) || !strings.EqualFold(filter[:len(share)], share) {
		return filter, true
	}
	group, rest, ok := strings.Cut(filter[len(share):], "/")
	if !ok || group == "" || rest == "" || strings.ContainsAny(group, "+#") {
		return "", false
	}
	return rest, true
}
