package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Every name a Net gives the kernel starts with prefix and carries the
// Net's id (its /24): the bridge tnx<id>, the root ends of the veths
// tnx<id>v<member> (at most 10 bytes, within IFNAMSIZ), the namespaces
// tnx<id>-<member name>. The member ends are eth0 inside each namespace.
const prefix = "tnx"

func bridgeName(id int) string       { return fmt.Sprintf("%s%d", prefix, id) }
func vethName(id, i int) string      { return fmt.Sprintf("%s%dv%d", prefix, id, i) }
func nsName(id int, m string) string { return fmt.Sprintf("%s%d-%s", prefix, id, m) }

// ownedName matches a bridge, veth or namespace name of this package and
// captures its id.
var ownedName = regexp.MustCompile(`^` + prefix + `([0-9]{1,3})(?:v[0-9]+|-.+)?$`)

// lockPath serializes allocate across the test processes of a machine.
// Ownership protocol: an id is held by whoever holds the bridge
// tnx<id> whose alias names a live process. The bridge and its alias are
// made under the lock, and a Net removes its bridge after its namespaces
// and veths, so, under the lock, a namespace or veth whose bridge is gone
// or owned by a dead process is a leftover and is removed: no live Net
// can be making one at the same time.
const lockPath = "/run/tether-netns.lock"

// allocate removes leftovers and returns a free id with its bridge made
// and owned by this process.
func allocate(t testing.TB, ip string) int {
	t.Helper()
	defer lock(t)()

	// Namespaces first, links second: a live Net's namespace is always
	// listed together with its bridge, which it made before it.
	namespaces := list(t, ip, "netns", "list")
	links := list(t, ip, "link", "show")
	alias := make(map[int]string) // id → its bridge's alias
	leftovers := make(map[int][]string)
	for _, o := range links {
		id, ok := owned(o.Name)
		if ok && o.Name == bridgeName(id) {
			alias[id] = o.Alias
		}
	}
	for _, o := range append(namespaces, links...) {
		if id, ok := owned(o.Name); ok {
			leftovers[id] = append(leftovers[id], o.Name)
		}
	}
	me := owner()
	used := foreignRoutes(t, ip)
	for id, objs := range leftovers {
		if a, ok := alias[id]; ok && !stale(a, me) {
			used[id] = true
			continue
		}
		sweep(t, ip, id, objs)
	}

	for id := range 256 {
		if used[id] {
			continue
		}
		b := bridgeName(id)
		mac := fmt.Sprintf("02:74:6e:00:%02x:01", id)
		out, err := ipRun(ip, "link", "add", "name", b, "address", mac, "type", "bridge")
		if err != nil {
			if strings.Contains(string(out), "File exists") {
				continue // made since the listing, by something not taking the lock
			}
			need(t, fmt.Sprintf("netns: cannot make a bridge: %v: %s", err, out))
		}
		if out, err := ipRun(ip, "link", "set", b, "alias", me); err != nil {
			ipRun(ip, "link", "del", b) //nolint:errcheck // best effort; swept as ownerless otherwise
			t.Fatalf("netns: %v: %s", err, out)
		}
		return id
	}
	t.Fatal("netns: all 256 of 10.231.0.0/16's /24s are in use")
	return 0
}

// lock takes lockPath's lock and returns its release.
func lock(t testing.TB) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		need(t, fmt.Sprintf("netns: %v", err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("netns: lock %s: %v", lockPath, err)
	}
	return sync.OnceFunc(func() { f.Close() }) // closing releases the lock
}

// sweep removes a leftover id's objects: veths and namespaces, the bridge
// last, so an interrupted sweep leaves an ownerless bridge to sweep again.
// A process a crashed test left running in a namespace keeps running, cut
// off: deleting a veth's root end deletes both ends.
func sweep(t testing.TB, ip string, id int, objs []string) {
	t.Helper()
	for _, name := range objs {
		var out []byte
		var err error
		switch {
		case name == bridgeName(id):
			continue
		case strings.HasPrefix(name, nsName(id, "")):
			out, err = ipRun(ip, "netns", "del", name)
		default:
			out, err = ipRun(ip, "link", "del", name)
		}
		if err != nil && !notFound(out) {
			t.Fatalf("netns: removing a leftover: %v: %s", err, out)
		}
	}
	if out, err := ipRun(ip, "link", "del", bridgeName(id)); err != nil && !notFound(out) {
		t.Fatalf("netns: removing a leftover: %v: %s", err, out)
	}
}

func owned(name string) (int, bool) {
	m := ownedName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	id, err := strconv.Atoi(m[1])
	return id, err == nil && id < 256
}

// object is a link or namespace as `ip -j` lists it.
type object struct {
	Name  string `json:"name"`    // netns list
	Link  string `json:"ifname"`  // link show
	Alias string `json:"ifalias"` // link show
}

func list(t testing.TB, ip string, args ...string) []object {
	t.Helper()
	// Stdout alone: ip warns on stderr of a namespace deleted while it
	// lists ("Peer netns reference is invalid") and still lists the rest.
	out, err := exec.Command(ip, append([]string{"-j"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("netns: ip -j %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	var objs []object
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &objs); err != nil {
			t.Fatalf("netns: ip -j %s: %v", strings.Join(args, " "), err)
		}
	}
	for i := range objs {
		if objs[i].Name == "" {
			objs[i].Name = objs[i].Link
		}
	}
	return objs
}

// foreignRoutes returns the ids whose /24 the root namespace routes
// somewhere other than one of this package's bridges.
func foreignRoutes(t testing.TB, ip string) map[int]bool {
	t.Helper()
	out, err := ipRun(ip, "-j", "-4", "route", "show", "root", "10.231.0.0/16")
	if err != nil {
		t.Fatalf("netns: %v: %s", err, out)
	}
	var routes []struct{ Dst, Dev string }
	if err := json.Unmarshal(out, &routes); err != nil && len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("netns: ip route: %v", err)
	}
	used := make(map[int]bool)
	for _, r := range routes {
		if _, ok := owned(r.Dev); ok {
			continue
		}
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, aerr := netip.ParseAddr(r.Dst)
			p, err = netip.PrefixFrom(a, 32), aerr
		}
		if err == nil && p.Addr().Is4() && p.Bits() >= 24 {
			used[int(p.Addr().As4()[2])] = true
		}
	}
	return used
}

// owner is the alias this process's bridges carry: its pid, its start
// time (so a reused pid is not taken for it) and its pid namespace.
func owner() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return fmt.Sprintf("tether-netns pid=%d start=%s pidns=%s", os.Getpid(), startTime(os.Getpid()), ns)
}

// stale reports whether a bridge alias names a process that is gone. An
// empty alias is a bridge whose maker died before naming itself; an
// owner in another pid namespace cannot be judged and is taken as live.
func stale(alias, me string) bool {
	if alias == "" {
		return true
	}
	f := fields(alias)
	if f["pidns"] != fields(me)["pidns"] || !strings.HasPrefix(alias, "tether-netns ") {
		return false
	}
	pid, err := strconv.Atoi(f["pid"])
	return err != nil || startTime(pid) != f["start"]
}

func fields(alias string) map[string]string {
	m := make(map[string]string)
	for _, kv := range strings.Fields(alias) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// startTime is field 22 of /proc/<pid>/stat, "" for no such process.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	// The command name (field 2) is in parentheses and may hold spaces.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
