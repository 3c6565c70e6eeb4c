package fleet

import "github.com/tether-edge/tether/pkg/protocol"

// SetLink records node id's link as the scheduler measured it, for its
// row. A node the fleet does not know is left unknown: a measurement
// creates no node. The row changes like a measurement does, published
// with the node's next change of state or its row refresh.
func (f *Fleet) SetLink(id string, l protocol.LinkEstimate) {
	sh := f.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.nodes[id]
	if !ok {
		return
	}
	n.Link = &l
	sh.touch(id)
	f.notify()
}

// OnlineIDs appends the ids of the online nodes to dst, in no order, and
// returns it. It holds one shard's lock at a time.
func (f *Fleet) OnlineIDs(dst []string) []string {
	f.each(func(_ *shard, n *Node) {
		if n.Online {
			dst = append(dst, n.ID)
		}
	})
	return dst
}

// SetWAN records the site's WAN as placement uses it, for the summary,
// published with the fleet's next change or refresh.
func (f *Fleet) SetWAN(w protocol.WANLink) {
	if w.Measured != nil {
		m := *w.Measured
		w.Measured = &m // stored values are never changed: Summary shares them
	}
	f.wan.Store(&w)
	f.notify()
}
