package fleet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Messages at the edges of what the protocol accepts still make a fleet
// table that encodes and that `tether-broker nodes` decodes.
func TestTableOfExtremeButValidMessagesDecodes(t *testing.T) {
	f, _ := newFleet()
	maxUp := uint64(protocol.MaxUptime / time.Millisecond)
	last := protocol.MaxTime.Add(-time.Millisecond)
	msgs := []protocol.Header{
		// A century of uptime, then a fresh boot's first message with
		// the same boot id: the boot estimate lies a century back.
		{Seq: 1, TS: protocol.MinTime, Boot: "b", UpMS: maxUp},
		{Seq: 2, TS: last, Boot: "b", UpMS: 1},
		{Seq: 3, TS: protocol.MinTime, Boot: "b", UpMS: 1},
	}
	st := birth("a", "i1", 0)
	st.Recovery = &protocol.Recovery{At: last, Reason: "torn"}
	st.TS = last.In(time.FixedZone("", 23*3600+59*60))
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	f.HandleStatus(st, false)
	for _, h := range msgs {
		h.V, h.Node, h.Instance = protocol.Version, "a", "i1"
		m := protocol.Metrics{Header: h, CPU: protocol.CPU{Total: 100.5}, Mem: protocol.Mem{Percent: 100}}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		f.HandleMetrics(m)
		b, err := json.Marshal(f.Table())
		if err != nil {
			t.Fatalf("after seq %d: the table does not encode: %v", h.Seq, err)
		}
		if _, err := protocol.DecodeFleetNodes(b); err != nil {
			t.Fatalf("after seq %d: the table does not decode: %v", h.Seq, err)
		}
	}
}
