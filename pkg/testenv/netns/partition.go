package netns

// fakeMAC is where a partitioned member sends what it sends to the other
// side: no interface has it, so the bridge floods such a frame and every
// member drops it as addressed to another host.
const fakeMAC = "02:74:6e:ff:ff:ff"

// Partition cuts all traffic between members a and b, in both directions,
// and leaves each free to reach every other member and the root
// namespace. It is silent, like a cable pulled between them: a connect
// times out rather than being refused or failing at once, and an
// established TCP connection stays open while its segments are lost, so
// what it sends during the partition arrives after Heal, as TCP
// retransmits it.
//
// Each side's neighbour entry for the other is pinned to a MAC nobody has
// (rather than a blackhole route, with which a connect or send fails at
// once with EINVAL, as no real partition does).
func (n *Net) Partition(a, b string) {
	n.t.Helper()
	n.pair(a, b)
	n.must("-n", n.ns(a), "neigh", "replace", n.IP(b), "lladdr", fakeMAC, "dev", "eth0", "nud", "permanent")
	n.must("-n", n.ns(b), "neigh", "replace", n.IP(a), "lladdr", fakeMAC, "dev", "eth0", "nud", "permanent")
}

// Heal undoes Partition(a, b): each side learns the other's address again
// (ARP) on its next packet. On a pair not partitioned it changes nothing
// but that.
func (n *Net) Heal(a, b string) {
	n.t.Helper()
	n.pair(a, b)
	for _, p := range [][2]string{{a, b}, {b, a}} {
		if out, err := n.run("-n", n.ns(p[0]), "neigh", "del", n.IP(p[1]), "dev", "eth0"); err != nil && !notFound(out) {
			n.t.Fatalf("netns: %v: %s", err, out)
		}
	}
}

// Isolate cuts member name off from everyone, the root namespace
// included, by taking its link's bridge end down: the member sees its
// eth0 lose carrier, as with a cable pulled from its switch. Its
// processes and sockets stay.
func (n *Net) Isolate(name string) {
	n.t.Helper()
	n.must("link", "set", vethName(n.id, n.index(name)), "down")
}

// Rejoin undoes Isolate(name).
func (n *Net) Rejoin(name string) {
	n.t.Helper()
	n.must("link", "set", vethName(n.id, n.index(name)), "up")
}

func (n *Net) ns(name string) string {
	n.t.Helper()
	return nsName(n.id, n.names[n.index(name)])
}

func (n *Net) pair(a, b string) {
	n.t.Helper()
	n.index(a)
	n.index(b)
	if a == b {
		n.t.Fatalf("netns: %q cannot be partitioned from itself", a)
	}
}
