// Package natsconf turns Tether's credentials and roles into the users and
// permissions of a NATS server's MQTT listener, so a NATS cluster enforces
// the same topic ACL as the embedded broker (broker/mqttd's policy):
//
//	role       publish                                   subscribe
//	scheduler  tether/v1/R/…                             tether/v1/R/…
//	monitor    nothing                                   tether/v1/… but blob frames
//	operator O tether/v1/R/tasks/submit|control          tether/v1/… but blob frames
//	           tether/v1/R/operators/O/blob              (its own …/operators/O/cmd/blob it reads)
//	node N     tether/v1/R/nodes/N/status|metrics|tasks|blob
//	                                                     tether/v1/R/nodes/N/cmd[/…], …/N/status
//
// Over core NATS the scheduler also keeps its region's high-availability
// stream (broker/ha): it publishes on HASubjects(R) and on that one
// stream's JetStream API (HAStream(R); no other stream's, no account-wide
// call), and reads the answers in _INBOX.>. It also keeps the region's
// blob bucket (HABlobBucket(R), a JetStream object store): it publishes on
// $O.<bucket>.> and on that bucket's stream's JetStream API, and answers
// its flow control ($JS.FC.OBJ_<bucket>.>). No other user may publish on
// tether.ha.> or $O.>, or call any JetStream API, so no node can forge a
// lease or an epoch, or read, write or delete a blob there. No other user
// may subscribe to tether.ha.> or _INBOX.> either: the region's stream
// holds its signing key (broker/ha), which only schedulers read.
//
// (and, with Home Assistant discovery under D, the scheduler writes and
// reads D/…, monitors and operators read it). NATS checks MQTT topics as
// NATS subjects: '/' becomes '.', and a '.' inside a level becomes "//"
// (NATS 2.10 and later; 2.9 refuses such topics).
//
// The permissions are what the tested NATS (2.15) needs: NATS 2.9 also
// wanted $MQTT.sub.> for QoS 1 subscriptions, and 2.9 is not supported
// (docs/scaling.md: it acknowledges a QoS 1 PUBLISH before JetStream stored
// it).
//
// It is pure: Authorization returns configuration text; the caller reads
// the credentials file and writes the result (tether-broker natsconf).
package natsconf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/pkg/protocol"
)

// User is one credentials entry: the name and its bcrypt hash ($2a$…).
type User struct {
	Name string
	Hash string
}

// Options say which users have which role; every other user is a node
// whose node id is its name.
type Options struct {
	Region     string
	Schedulers []string
	Monitors   []string
	Operators  []string
	// Discovery is Home Assistant's discovery prefix; empty: off.
	Discovery string
}

// Authorization returns a NATS `authorization { users = [...] }` block for
// users, each with its role's permissions, sorted by name. Every hash must
// be bcrypt (NATS reads no other hash); every scheduler, monitor and
// operator named in o must be among users.
func Authorization(users []User, o Options) ([]byte, error) {
	if err := protocol.ValidateID("region", o.Region); err != nil {
		return nil, err
	}
	if o.Discovery != "" {
		if err := discoveryAllowed(o.Discovery); err != nil {
			return nil, err
		}
	}
	roles := map[string]string{}
	for role, names := range map[string][]string{"scheduler": o.Schedulers, "monitor": o.Monitors, "operator": o.Operators} {
		for _, n := range names {
			if prev, ok := roles[n]; ok && prev != role {
				return nil, fmt.Errorf("user %q is both %s and %s", n, prev, role)
			}
			roles[n] = role
		}
	}
	sorted := slices.Clone(users)
	slices.SortFunc(sorted, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	seen := map[string]bool{}
	var b strings.Builder
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range sorted {
		if seen[u.Name] {
			return nil, fmt.Errorf("user %q appears twice", u.Name)
		}
		seen[u.Name] = true
		if !isBcrypt(u.Hash) {
			return nil, fmt.Errorf("user %q: NATS reads only bcrypt hashes; set its password again with `tether-broker passwd --hash bcrypt`", u.Name)
		}
		pub, sub, err := permissions(u.Name, roles[u.Name], o)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: %s\n      permissions: {\n", quote(u.Name), quote(u.Hash))
		writeList(&b, "publish", pub, nil)
		var deny []string
		switch roles[u.Name] {
		case "monitor":
			deny = blobFrames
		case "operator":
			deny = operatorDeny(u.Name, o.Operators)
		}
		writeList(&b, "subscribe", sub, deny)
		b.WriteString("      }\n    }\n")
	}
	for n := range roles {
		if !seen[n] {
			return nil, fmt.Errorf("%s user %q has no credentials", roles[n], n)
		}
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String()), nil
}

// permissions returns the NATS subjects user may publish and subscribe to.
// An empty publish list is written as a deny of everything.
func permissions(user, role string, o Options) (pub, sub []string, err error) {
	region := "tether/v1/" + o.Region
	tree := func(topic string) []string { // topic and everything below it
		s := Subject(topic)
		return []string{s, s + ".>"}
	}
	var disc []string
	if o.Discovery != "" {
		disc = tree(o.Discovery)
	}
	switch role {
	case "scheduler":
		all := append(tree(region), disc...)
		return append(slices.Clone(all), haPublish(o.Region)...), append(all, "_INBOX.>"), nil
	case "monitor":
		return nil, append(tree(protocol.Root), disc...), nil
	case "operator":
		return []string{Subject(region + "/tasks/submit"), Subject(region + "/tasks/control"),
			Subject(region + "/operators/" + user + "/" + protocol.KindBlob)}, append(tree(protocol.Root), disc...), nil
	}
	if err := protocol.ValidateID("node id", user); err != nil {
		return nil, nil, fmt.Errorf("user %q is no scheduler, monitor or operator, and not a node id: %w", user, err)
	}
	node := region + "/nodes/" + user
	for _, k := range []string{protocol.KindStatus, protocol.KindMetrics, protocol.KindTasks, protocol.KindBlob} {
		pub = append(pub, Subject(node+"/"+k))
	}
	sub = append(tree(node+"/cmd"), Subject(node+"/"+protocol.KindStatus))
	return pub, sub, nil
}

// discoveryAllowed refuses a discovery prefix whose subjects monitors and
// operators must not read: one protocol.ValidateDiscoveryPrefix refuses
// (a wildcard, a $-topic such as the blob buckets' $O.…, Tether's own
// tree), and one whose subject tree overlaps the high-availability
// streams' (tether.ha.…, which holds the region's signing key) or the
// inboxes that answer the scheduler's JetStream requests (_INBOX.…).
func discoveryAllowed(prefix string) error {
	if err := protocol.ValidateDiscoveryPrefix(prefix); err != nil {
		return err
	}
	s := Subject(prefix)
	for _, private := range []string{"tether.ha", "_INBOX"} {
		if s == private || strings.HasPrefix(s, private+".") || strings.HasPrefix(private, s+".") {
			return fmt.Errorf("discovery prefix %q would let monitors and operators read %s.>", prefix, private)
		}
	}
	return nil
}

// HAStream is the name of region's high-availability stream (broker/ha):
// the region with '_' as "_5F" and '.' (a NATS token separator, not
// allowed in a stream name) as "_2E", so distinct regions never share one.
func HAStream(region string) string { return "TETHER_" + haToken(region) }

// HASubjects is the subject prefix of region's high-availability stream;
// its subjects are HASubjects(region) + ".>".
func HASubjects(region string) string { return "tether.ha." + haToken(region) }

// HABlobBucket is the name of region's blob bucket (broker/ha), a
// JetStream object store whose stream is "OBJ_" + the bucket's name and
// whose subjects are "$O." + the bucket's name + ".>".
func HABlobBucket(region string) string { return HAStream(region) + "_BLOBS" }

func haToken(region string) string {
	return strings.NewReplacer("_", "_5F", ".", "_2E").Replace(region)
}

// haPublish is what a scheduler publishes to keep region's stream: its
// subjects, and the JetStream API calls broker/ha makes on that stream
// (create or update it, read and delete a message, one-shot consumers to
// load the store); then the blob bucket's subjects, and the calls
// nats.go's object store makes on its stream (create or update it, read
// an object's metadata, purge an object's chunks, the ordered consumers
// that read an object or list the bucket, and their flow control).
func haPublish(region string) []string {
	s := HAStream(region)
	api := "$JS.API."
	pub := []string{HASubjects(region) + ".>",
		api + "STREAM.CREATE." + s, api + "STREAM.UPDATE." + s, api + "STREAM.INFO." + s,
		api + "STREAM.MSG.GET." + s, api + "STREAM.MSG.DELETE." + s, api + "DIRECT.GET." + s, api + "DIRECT.GET." + s + ".>",
		api + "CONSUMER.CREATE." + s, api + "CONSUMER.CREATE." + s + ".>", api + "CONSUMER.INFO." + s + ".*",
		api + "CONSUMER.DELETE." + s + ".*", api + "CONSUMER.MSG.NEXT." + s + ".*",
	}
	b := HABlobBucket(region)
	o := "OBJ_" + b
	return append(pub, "$O."+b+".>",
		api+"STREAM.CREATE."+o, api+"STREAM.UPDATE."+o, api+"STREAM.INFO."+o, api+"STREAM.PURGE."+o,
		api+"STREAM.MSG.GET."+o, api+"DIRECT.GET."+o, api+"DIRECT.GET."+o+".>",
		api+"CONSUMER.CREATE."+o, api+"CONSUMER.CREATE."+o+".>", api+"CONSUMER.INFO."+o+".*",
		api+"CONSUMER.DELETE."+o+".*", "$JS.FC."+o+".>",
	)
}

// Subject is the NATS subject NATS's MQTT listener maps a topic name or
// filter to: levels joined by '.', '.' inside a level as "//", '+' as '*'
// and a trailing '#' as '>'.
func Subject(topic string) string {
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		switch l {
		case "+":
			levels[i] = "*"
		case "#":
			levels[i] = ">"
		default:
			levels[i] = strings.ReplaceAll(l, ".", "//")
		}
	}
	return strings.Join(levels, ".")
}

func isBcrypt(h string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(h, p) {
			return len(h) == 60
		}
	}
	return false
}

// blobFrames are the subjects of blob transfer frames, which monitors may
// not receive: NATS grants their tether/v1/# and holds these back on
// delivery.
var blobFrames = []string{
	Subject("tether/v1/+/nodes/+/" + protocol.KindBlob), Subject("tether/v1/+/nodes/+/cmd/" + protocol.CmdBlob),
	Subject("tether/v1/+/operators/+/" + protocol.KindBlob), Subject("tether/v1/+/operators/+/cmd/" + protocol.CmdBlob),
}

// operatorDeny is what operator user may not receive: the blob frames but
// those the scheduler sends it. NATS lets a deny win over any allow, so the
// other operators' frames are named one by one rather than by a wildcard
// that would cover its own.
func operatorDeny(user string, operators []string) []string {
	deny := slices.Clone(blobFrames[:3])
	others := slices.Sorted(slices.Values(operators))
	for _, o := range slices.Compact(others) {
		if o != user {
			deny = append(deny, Subject("tether/v1/+/operators/"+o+"/cmd/"+protocol.CmdBlob))
		}
	}
	return deny
}

func writeList(b *strings.Builder, what string, subjects, deny []string) {
	if len(subjects) == 0 {
		fmt.Fprintf(b, "        %s: { deny: [\">\"] }\n", what)
		return
	}
	fmt.Fprintf(b, "        %s: { allow: [", what)
	writeSubjects(b, subjects)
	if len(deny) > 0 {
		b.WriteString("], deny: [")
		writeSubjects(b, deny)
	}
	b.WriteString("] }\n")
}

func writeSubjects(b *strings.Builder, subjects []string) {
	for i, s := range subjects {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(s))
	}
}

// quote writes s as a NATS configuration string. Names and subjects are
// validated ids and topic levels; the hash is bcrypt's alphabet. A '$' in
// a quoted string is literal in NATS configuration (no variable).
func quote(s string) string { return strconv.Quote(s) }
