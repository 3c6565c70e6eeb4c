package natsconf

import (
	"slices"
	"strings"
	"testing"
)

const hash = "$2a$08$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"

func TestPermissionsPerRole(t *testing.T) {
	o := Options{Region: "eu-1", Schedulers: []string{"sched"}, Monitors: []string{"mon"}, Operators: []string{"op"}, Discovery: "homeassistant"}
	for _, tt := range []struct {
		user, role string
		pub, sub   []string
	}{
		{"sched", "scheduler", []string{"tether.v1.eu-1", "tether.v1.eu-1.>", "homeassistant", "homeassistant.>",
			"tether.ha.eu-1.>",
			"$JS.API.STREAM.CREATE.TETHER_eu-1", "$JS.API.STREAM.UPDATE.TETHER_eu-1", "$JS.API.STREAM.INFO.TETHER_eu-1",
			"$JS.API.STREAM.MSG.GET.TETHER_eu-1", "$JS.API.STREAM.MSG.DELETE.TETHER_eu-1",
			"$JS.API.DIRECT.GET.TETHER_eu-1", "$JS.API.DIRECT.GET.TETHER_eu-1.>",
			"$JS.API.CONSUMER.CREATE.TETHER_eu-1", "$JS.API.CONSUMER.CREATE.TETHER_eu-1.>", "$JS.API.CONSUMER.INFO.TETHER_eu-1.*",
			"$JS.API.CONSUMER.DELETE.TETHER_eu-1.*", "$JS.API.CONSUMER.MSG.NEXT.TETHER_eu-1.*",
			"$O.TETHER_eu-1_BLOBS.>",
			"$JS.API.STREAM.CREATE.OBJ_TETHER_eu-1_BLOBS", "$JS.API.STREAM.UPDATE.OBJ_TETHER_eu-1_BLOBS",
			"$JS.API.STREAM.INFO.OBJ_TETHER_eu-1_BLOBS", "$JS.API.STREAM.PURGE.OBJ_TETHER_eu-1_BLOBS",
			"$JS.API.STREAM.MSG.GET.OBJ_TETHER_eu-1_BLOBS",
			"$JS.API.DIRECT.GET.OBJ_TETHER_eu-1_BLOBS", "$JS.API.DIRECT.GET.OBJ_TETHER_eu-1_BLOBS.>",
			"$JS.API.CONSUMER.CREATE.OBJ_TETHER_eu-1_BLOBS", "$JS.API.CONSUMER.CREATE.OBJ_TETHER_eu-1_BLOBS.>",
			"$JS.API.CONSUMER.INFO.OBJ_TETHER_eu-1_BLOBS.*", "$JS.API.CONSUMER.DELETE.OBJ_TETHER_eu-1_BLOBS.*",
			"$JS.FC.OBJ_TETHER_eu-1_BLOBS.>"},
			[]string{"tether.v1.eu-1", "tether.v1.eu-1.>", "homeassistant", "homeassistant.>", "_INBOX.>"}},
		{"mon", "monitor", nil, []string{"tether.v1", "tether.v1.>", "homeassistant", "homeassistant.>"}},
		{"op", "operator", []string{"tether.v1.eu-1.tasks.submit", "tether.v1.eu-1.tasks.control", "tether.v1.eu-1.operators.op.blob"},
			[]string{"tether.v1", "tether.v1.>", "homeassistant", "homeassistant.>"}},
		{"pi.7", "", []string{"tether.v1.eu-1.nodes.pi//7.status", "tether.v1.eu-1.nodes.pi//7.metrics", "tether.v1.eu-1.nodes.pi//7.tasks", "tether.v1.eu-1.nodes.pi//7.blob"},
			[]string{"tether.v1.eu-1.nodes.pi//7.cmd", "tether.v1.eu-1.nodes.pi//7.cmd.>", "tether.v1.eu-1.nodes.pi//7.status"}},
	} {
		pub, sub, err := permissions(tt.user, tt.role, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pub, tt.pub) || !slices.Equal(sub, tt.sub) {
			t.Errorf("%s: publish %q subscribe %q, want %q %q", tt.user, pub, sub, tt.pub, tt.sub)
		}
	}
}

func TestAuthorization(t *testing.T) {
	users := []User{{"pi-b", hash}, {"sched", hash}, {"pi-a", hash}}
	out, err := Authorization(users, Options{Region: "eu-1", Schedulers: []string{"sched"}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if a, b := strings.Index(s, `user: "pi-a"`), strings.Index(s, `user: "pi-b"`); a < 0 || b < a {
		t.Errorf("users missing or not sorted:\n%s", s)
	}
	if !strings.Contains(s, `password: "`+hash+`"`) || !strings.Contains(s, `publish: { allow: ["tether.v1.eu-1.nodes.pi-a.status"`) {
		t.Errorf("entry for pi-a wrong:\n%s", s)
	}
	for name, tt := range map[string]struct {
		users []User
		o     Options
		want  string
	}{
		"pbkdf2 hash":      {[]User{{"pi-a", "$7$101$abc$def"}}, Options{Region: "eu-1"}, "--hash bcrypt"},
		"scheduler absent": {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Schedulers: []string{"sched"}}, "no credentials"},
		"two roles":        {[]User{{"x", hash}}, Options{Region: "eu-1", Monitors: []string{"x"}, Operators: []string{"x"}}, "both"},
		"bad node id":      {[]User{{"a/b", hash}}, Options{Region: "eu-1"}, "not a node id"},
		"bad region":       {[]User{{"pi-a", hash}}, Options{Region: "eu/1"}, "region"},
		"duplicate":        {[]User{{"pi-a", hash}, {"pi-a", hash}}, Options{Region: "eu-1"}, "twice"},
		// Monitors and operators read the discovery tree: never the
		// region's stream (its signing key), the inboxes or a $-subject.
		"discovery tether":    {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Discovery: "tether"}, "tether.ha.>"},
		"discovery tether/ha": {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Discovery: "tether/ha/eu-1"}, "tether.ha.>"},
		"discovery _INBOX":    {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Discovery: "_INBOX"}, "_INBOX.>"},
		"discovery $O":        {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Discovery: "$O"}, "$-topic"},
		"discovery tether/v1": {[]User{{"pi-a", hash}}, Options{Region: "eu-1", Discovery: "tether/v1/x"}, "lies under"},
	} {
		if _, err := Authorization(tt.users, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to say %q", name, err, tt.want)
		}
	}
}

// TestOperatorsReadOnlyTheirOwnBlobFrames: NATS lets a deny win over an
// allow, so each operator's deny list names the other operators' frames
// and not its own; a monitor's denies them all.
func TestOperatorsReadOnlyTheirOwnBlobFrames(t *testing.T) {
	users := []User{{"sched", hash}, {"op-a", hash}, {"op-b", hash}, {"mon", hash}}
	out, err := Authorization(users, Options{Region: "eu-1", Schedulers: []string{"sched"}, Monitors: []string{"mon"}, Operators: []string{"op-b", "op-a"}})
	if err != nil {
		t.Fatal(err)
	}
	entry := func(user string) string {
		s := string(out)
		i := strings.Index(s, `user: "`+user+`"`)
		j := strings.Index(s[i:], "\n    }\n")
		return s[i : i+j]
	}
	a := entry("op-a")
	for _, want := range []string{`"tether.v1.eu-1.operators.op-a.blob"`, `"tether.v1.*.nodes.*.blob"`, `"tether.v1.*.nodes.*.cmd.blob"`,
		`"tether.v1.*.operators.*.blob"`, `"tether.v1.*.operators.op-b.cmd.blob"`} {
		if !strings.Contains(a, want) {
			t.Errorf("op-a's entry lacks %s:\n%s", want, a)
		}
	}
	for _, not := range []string{`operators.op-a.cmd.blob`, `operators.*.cmd.blob`} {
		if strings.Contains(a, not) {
			t.Errorf("op-a's entry denies its own frames (%s):\n%s", not, a)
		}
	}
	if m := entry("mon"); !strings.Contains(m, `"tether.v1.*.operators.*.cmd.blob"`) || !strings.Contains(m, `"tether.v1.*.operators.*.blob"`) {
		t.Errorf("the monitor may read operators' blob frames:\n%s", m)
	}
}

// TestHANames: regions that differ only in '.' and '_' get distinct
// streams, subject prefixes and blob buckets, each a valid stream or
// bucket name and one token.
func TestHANames(t *testing.T) {
	for region, want := range map[string][3]string{
		"eu-1":   {"TETHER_eu-1", "tether.ha.eu-1", "TETHER_eu-1_BLOBS"},
		"eu.1":   {"TETHER_eu_2E1", "tether.ha.eu_2E1", "TETHER_eu_2E1_BLOBS"},
		"eu_1":   {"TETHER_eu_5F1", "tether.ha.eu_5F1", "TETHER_eu_5F1_BLOBS"},
		"eu_2E1": {"TETHER_eu_5F2E1", "tether.ha.eu_5F2E1", "TETHER_eu_5F2E1_BLOBS"},
	} {
		if s, p, b := HAStream(region), HASubjects(region), HABlobBucket(region); s != want[0] || p != want[1] || b != want[2] {
			t.Errorf("%q: stream %q subjects %q bucket %q, want %q", region, s, p, b, want)
		}
	}
}

func TestSubject(t *testing.T) {
	for topic, want := range map[string]string{
		"tether/v1/eu-1/nodes/+/status": "tether.v1.eu-1.nodes.*.status",
		"tether/v1/#":                   "tether.v1.>",
		"tether/v1/eu.1/nodes/a.b/cmd":  "tether.v1.eu//1.nodes.a//b.cmd",
	} {
		if got := Subject(topic); got != want {
			t.Errorf("Subject(%q) = %q, want %q", topic, got, want)
		}
	}
}
