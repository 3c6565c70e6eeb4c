package fleet

import (
	"slices"
	"sort"
	"testing"

	"github.com/tether-edge/tether/pkg/protocol"
)

// TestSetLinkShowsInTheRow: a measured link goes into the node's row and
// marks it changed; a measurement of a node the fleet does not know makes
// no node. OnlineIDs lists the online nodes only.
func TestSetLinkShowsInTheRow(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	f.HandleStatus(birth("b", "i1", 1), false)
	f.HandleStatus(offline("b", "i1", 2, protocol.ReasonShutdown), false)
	f.Drain(ForView, func(Node) {})
	l := protocol.LinkEstimate{RTTMS: 80, RTTSamples: 3, Mbps: 7.5, MbpsSamples: 1}
	f.SetLink("a", l)
	f.SetLink("ghost", l)
	var changed []string
	f.Drain(ForView, func(n Node) { changed = append(changed, n.ID) })
	if !slices.Equal(changed, []string{"a"}) {
		t.Fatalf("changed after SetLink: %v", changed)
	}
	if _, ok := f.Get("ghost"); ok {
		t.Fatal("a measurement made a node")
	}
	if row := Row(mustGet(t, f, "a")); row.Link == nil || *row.Link != l {
		t.Fatalf("row link %+v", row.Link)
	}
	f.HandleStatus(birth("c", "i1", 1), false)
	ids := f.OnlineIDs(nil)
	sort.Strings(ids)
	if !slices.Equal(ids, []string{"a", "c"}) {
		t.Fatalf("online %v", ids)
	}
}
