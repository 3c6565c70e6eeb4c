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

// TestSetWANShowsInTheSummary: the summary has no WAN before SetWAN and a
// copy of the latest after it, one the caller's later changes do not reach;
// the summary validates.
func TestSetWANShowsInTheSummary(t *testing.T) {
	f, _ := newFleet()
	if s := f.Summary(); s.WAN != nil {
		t.Fatalf("a WAN before SetWAN: %+v", s.WAN)
	}
	m := protocol.LinkEstimate{RTTMS: 90, RTTSamples: 4}
	f.SetWAN(protocol.WANLink{RTTMS: 84, UpMbps: 20, DownMbps: 20, Measured: &m})
	m.RTTMS = 1
	s := f.Summary()
	if s.WAN == nil || s.WAN.RTTMS != 84 || s.WAN.Measured == nil || s.WAN.Measured.RTTMS != 90 {
		t.Fatalf("summary WAN %+v", s.WAN)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
