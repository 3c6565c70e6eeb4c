package serve

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// The scheduler's retained status carries its leadership epoch, and none
// without one: the status of a scheduler without high availability is
// byte for byte what it was.
func TestSchedulerStatusCarriesItsEpoch(t *testing.T) {
	t.Parallel()
	for _, epoch := range []uint64{0, 7} {
		url, stop := startServeWith(t, map[string]string{"monitor": "mon-pw"}, nil, Options{Epoch: epoch})
		topics, _ := protocol.NewTopics("default")
		monitor := dial(t, url, "monitor@t", "monitor", "mon-pw")
		got := make(chan []byte, 1)
		if err := monitor.Subscribe(context.Background(), topics.SchedulerStatus(), 1, func(m session.Message) {
			select {
			case got <- m.Payload:
			default:
			}
		}); err != nil {
			t.Fatal(err)
		}
		var payload []byte
		select {
		case payload = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("epoch %d: no scheduler status", epoch)
		}
		st, err := protocol.DecodeSchedulerStatus(payload)
		if err != nil {
			t.Fatalf("epoch %d: %v\n%s", epoch, err, payload)
		}
		if st.Epoch != epoch || st.State != protocol.StateOnline {
			t.Fatalf("status %+v, want online at epoch %d", st, epoch)
		}
		if named := bytes.Contains(payload, []byte(`"epoch"`)); named != (epoch != 0) {
			t.Fatalf("epoch %d: status %s", epoch, payload)
		}
		stop()
	}
}
