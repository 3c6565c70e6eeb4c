package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Root is the first level of every Tether topic; the second is the protocol
// version.
const Root = "tether/v1"

// Node topic kinds: the last level of tether/v1/<region>/nodes/<node>/<kind>.
const (
	KindStatus  = "status"  // retained birth and death (will)
	KindMetrics = "metrics" // resource reports
	KindTasks   = "tasks"   // task events (pkg/task.Event), through the outbox
	KindBlob    = "blob"    // blob transfer frames from the node (pkg/blob.Message)
)

// Command names: the last level of tether/v1/<region>/nodes/<node>/cmd/<name>.
const (
	// CmdRebirth asks a node to publish its birth again (Sparkplug's
	// "Rebirth"): the scheduler sends it when it hears from a node whose
	// retained birth it never received.
	CmdRebirth = "rebirth"
	// CmdDuplicate tells the agents behind a node id that more than one
	// agent uses it (payload: DuplicateNotice). Agents that share a client
	// id also share one broker session, so each sees the notice when its
	// turn on the session comes; it makes the clash visible on the devices.
	CmdDuplicate = "duplicate"
	// CmdTask carries a signed task assignment (pkg/task.Envelope).
	CmdTask = "task"
	// CmdBlob carries blob transfer frames to the node (pkg/blob.Message).
	CmdBlob = "blob"
)

// MaxIDLen bounds region and node ids: they appear in every topic and in
// client ids, and brokers limit both.
const MaxIDLen = 64

// ValidateID reports whether s can be used as a region or node id: 1 to 64
// characters from [A-Za-z0-9._-], not starting with '.' or '-'. The set
// excludes the MQTT wildcards '+' and '#', the level separator '/', and '$'
// [MQTT-4.7.1-1, MQTT-4.7.2-1], so an id never changes a topic's shape.
func ValidateID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%s %q… is longer than %d characters", what, s[:MaxIDLen], MaxIDLen)
	}
	if s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("%s %q must start with a letter, digit or '_'", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%s %q has %q at %d: only letters, digits, '.', '_' and '-' are allowed", what, s, c, i)
		}
	}
	return nil
}

// Topics builds the topic names of one region. The zero value is not usable;
// call NewTopics.
type Topics struct {
	region string
	prefix string // "tether/v1/<region>"
}

// NewTopics returns the topic builder for region, which must pass ValidateID.
func NewTopics(region string) (Topics, error) {
	if err := ValidateID("region", region); err != nil {
		return Topics{}, err
	}
	return Topics{region: region, prefix: Root + "/" + region}, nil
}

// Region returns the region the topics belong to.
func (t Topics) Region() string { return t.region }

// Prefix returns tether/v1/<region>.
func (t Topics) Prefix() string { return t.prefix }

// All is the filter for everything in the region: tether/v1/<region>/#.
func (t Topics) All() string { return t.prefix + "/#" }

// NodeStatus is tether/v1/<region>/nodes/<node>/status.
func (t Topics) NodeStatus(node string) string { return t.prefix + "/nodes/" + node + "/" + KindStatus }

// NodeMetrics is tether/v1/<region>/nodes/<node>/metrics.
func (t Topics) NodeMetrics(node string) string {
	return t.prefix + "/nodes/" + node + "/" + KindMetrics
}

// NodeCommand is tether/v1/<region>/nodes/<node>/cmd/<name>.
func (t Topics) NodeCommand(node, name string) string {
	return t.prefix + "/nodes/" + node + "/cmd/" + name
}

// NodeCommands is the filter a node subscribes to for its commands:
// tether/v1/<region>/nodes/<node>/cmd/#.
func (t Topics) NodeCommands(node string) string { return t.prefix + "/nodes/" + node + "/cmd/#" }

// AllNodeStatus is tether/v1/<region>/nodes/+/status.
func (t Topics) AllNodeStatus() string { return t.prefix + "/nodes/+/" + KindStatus }

// AllNodeMetrics is tether/v1/<region>/nodes/+/metrics.
func (t Topics) AllNodeMetrics() string { return t.prefix + "/nodes/+/" + KindMetrics }

// SchedulerStatus is tether/v1/<region>/scheduler/status (retained, with a will).
func (t Topics) SchedulerStatus() string { return t.prefix + "/scheduler/status" }

// FleetSummary is tether/v1/<region>/fleet/summary (retained): counts.
func (t Topics) FleetSummary() string { return t.prefix + "/fleet/summary" }

// FleetNodes is tether/v1/<region>/fleet/nodes (retained): one row per node.
func (t Topics) FleetNodes() string { return t.prefix + "/fleet/nodes" }

// NodeTasks is tether/v1/<region>/nodes/<node>/tasks: the node's task events.
func (t Topics) NodeTasks(node string) string { return t.prefix + "/nodes/" + node + "/" + KindTasks }

// NodeBlob is tether/v1/<region>/nodes/<node>/blob: the node's blob
// transfer frames (pkg/blob). Frames to the node go on NodeCommand(node, CmdBlob).
func (t Topics) NodeBlob(node string) string { return t.prefix + "/nodes/" + node + "/" + KindBlob }

// AllNodeBlob is tether/v1/<region>/nodes/+/blob.
func (t Topics) AllNodeBlob() string { return t.prefix + "/nodes/+/" + KindBlob }

// OperatorBlob is tether/v1/<region>/operators/<user>/blob: an operator's
// blob transfer frames to the scheduler (its uploads, its downloads'
// wants). Frames to the operator go on OperatorBlobCommand(user). <user>
// is the operator's MQTT username, so the ACL confines each to its own.
func (t Topics) OperatorBlob(user string) string {
	return t.prefix + "/operators/" + user + "/" + KindBlob
}

// OperatorBlobCommand is tether/v1/<region>/operators/<user>/cmd/blob.
func (t Topics) OperatorBlobCommand(user string) string {
	return t.prefix + "/operators/" + user + "/cmd/" + CmdBlob
}

// AllOperatorBlob is tether/v1/<region>/operators/+/blob.
func (t Topics) AllOperatorBlob() string { return t.prefix + "/operators/+/" + KindBlob }

// AllNodeTasks is tether/v1/<region>/nodes/+/tasks.
func (t Topics) AllNodeTasks() string { return t.prefix + "/nodes/+/" + KindTasks }

// TaskSubmit is tether/v1/<region>/tasks/submit: pkg/task.SubmitRequest.
func (t Topics) TaskSubmit() string { return t.prefix + "/tasks/submit" }

// TaskControl is tether/v1/<region>/tasks/control: pkg/task.ControlRequest.
func (t Topics) TaskControl() string { return t.prefix + "/tasks/control" }

// TaskQuarantine is tether/v1/<region>/tasks/quarantine: the nodes in
// quarantine, retained (task.QuarantineList).
func (t Topics) TaskQuarantine() string { return t.prefix + "/tasks/quarantine" }

// TaskStatus is tether/v1/<region>/tasks/status/<task> (retained):
// pkg/task.Status. Task ids follow the id rule, so they fit one level.
func (t Topics) TaskStatus(task string) string { return t.prefix + "/tasks/status/" + task }

// AllTaskStatus is tether/v1/<region>/tasks/status/+.
func (t Topics) AllTaskStatus() string { return t.prefix + "/tasks/status/+" }

// Replies is the filter a requester subscribes to for its replies:
// tether/v1/<region>/replies/<client>/#. <client> is the requester's MQTT
// username, so the ACL lets each user read only its own replies.
func (t Topics) Replies(client string) string { return t.prefix + "/replies/" + client + "/#" }

// Reply is tether/v1/<region>/replies/<client>/<request>.
func (t Topics) Reply(client, request string) string {
	return t.prefix + "/replies/" + client + "/" + request
}

// EnrolRequest is tether/v1/<region>/enrol/<node>/request, where an
// enrolling node asks for its credentials.
func (t Topics) EnrolRequest(node string) string { return t.prefix + "/enrol/" + node + "/request" }

// EnrolReply is tether/v1/<region>/enrol/<node>/reply, the scheduler's
// answer to node's enrolment request.
func (t Topics) EnrolReply(node string) string { return t.prefix + "/enrol/" + node + "/reply" }

// AllEnrolRequests is tether/v1/<region>/enrol/+/request.
func (t Topics) AllEnrolRequests() string { return t.prefix + "/enrol/+/request" }

// NodeTopic is a parsed node topic.
type NodeTopic struct {
	Region  string
	Node    string
	Kind    string // KindStatus, KindMetrics, KindTasks or "cmd"
	Command string // set when Kind is "cmd"
}

// ErrNotNodeTopic is returned by ParseNodeTopic for topics outside
// tether/v1/<region>/nodes/<node>/….
var ErrNotNodeTopic = errors.New("not a tether node topic")

// ParseNodeTopic splits a concrete topic name of the node subtree. It
// validates the region and node ids, so a caller can trust them as map keys.
func ParseNodeTopic(topic string) (NodeTopic, error) {
	rest, ok := strings.CutPrefix(topic, Root+"/")
	if !ok {
		return NodeTopic{}, fmt.Errorf("%w: %q", ErrNotNodeTopic, clipText(topic, 2*MaxIDLen))
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 4 || parts[1] != "nodes" {
		return NodeTopic{}, fmt.Errorf("%w: %q", ErrNotNodeTopic, clipText(topic, 2*MaxIDLen))
	}
	nt := NodeTopic{Region: parts[0], Node: parts[2], Kind: parts[3]}
	if err := ValidateID("region", nt.Region); err != nil {
		return NodeTopic{}, fmt.Errorf("%w: %v", ErrNotNodeTopic, err)
	}
	if err := ValidateID("node", nt.Node); err != nil {
		return NodeTopic{}, fmt.Errorf("%w: %v", ErrNotNodeTopic, err)
	}
	switch {
	case len(parts) == 4 && (nt.Kind == KindStatus || nt.Kind == KindMetrics || nt.Kind == KindTasks):
	case len(parts) == 5 && nt.Kind == "cmd" && parts[4] != "":
		nt.Command = parts[4]
	default:
		return NodeTopic{}, fmt.Errorf("%w: %q", ErrNotNodeTopic, clipText(topic, 2*MaxIDLen))
	}
	return nt, nil
}
