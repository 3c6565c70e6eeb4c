package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/broker/place/live"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Links measured live (docs/scheduling.md): the scheduler learns each
// node's link from what it measures anyway and from light probes.
//
//   - A transfer it pulls from a node (an output, an input held there) of
//     at least links.MinTransfer gives the node's throughput toward the
//     site; one the node fetches from it (an input it holds), timed as it
//     serves it (blob.ServeStats), the other direction (onServed).
//   - A probe gives its round trip: the scheduler asks the node for a blob
//     with a random id, which nobody holds, and the node's missing comes
//     back through the broker — the path task data takes, with no message
//     the protocol did not have. A node cannot answer before it has the
//     random id, so it cannot seem nearer than it is; one that answers
//     late, or not at all, only seems farther. Every online node is probed
//     once per placement.link_probe, spread over the interval.
//
// Estimates go to placement (broker/place/live) and to the node's fleet
// row. A cloud node's samples are also the WAN's (wanSample): the site's
// one link to the cloud tier, which placement uses for every cloud node
// without a path of its own, shown in the fleet summary.

// probeTimeout bounds one probe; a probe that took a retry is no sample.
const probeTimeout = 10 * time.Second

// maxProbes bounds the probes in flight.
const maxProbes = 16

// onTransfer records a measured pull from a node.
func (s *scheduler) onTransfer(peer string, _ blob.ID, st blob.FetchStats) {
	if _, operator := blob.OperatorOf(peer); operator || st.Retries > 0 {
		return // an operator's upload says nothing of a node; a retried one measures the wait
	}
	now := s.monotonic()
	est, ok, err := s.links.ObserveTransfer(peer, st.Written, st.Elapsed, now)
	if err != nil || !ok {
		return
	}
	s.fleet.SetLink(peer, linkRow(est))
	if _, rate := s.wanSample(peer); rate {
		// A pull is from the node to the site: the WAN's down direction.
		if _, _, err := s.links.ObserveWANTransfer(st.Written, st.Elapsed, now); err == nil {
			s.showWAN()
		}
	}
}

// onServed records a measured fetch by peer of a blob the scheduler held:
// the direction from the scheduler to the node. It runs on the receive
// goroutine (blob.EndpointOptions.OnServed).
func (s *scheduler) onServed(peer string, _ blob.ID, st blob.ServeStats) {
	if _, operator := blob.OperatorOf(peer); operator || st.Retried {
		return // an operator's download says nothing of a node; a retried one measures the wait
	}
	now := s.monotonic()
	est, ok, err := s.links.ObserveUpTransfer(peer, st.Bytes, st.Elapsed, now)
	if err != nil || !ok {
		return
	}
	s.fleet.SetLink(peer, linkRow(est))
	if _, rate := s.wanSample(peer); rate {
		// A fetch goes from the site to the node: the WAN's up direction.
		if _, _, err := s.links.ObserveWANUpTransfer(st.Bytes, st.Elapsed, now); err == nil {
			s.showWAN()
		}
	}
}

// wanSample says which of node's measurements are also the WAN's: none
// for an edge node; for a cloud node, those of the quantities its labels
// do not give a path of its own (live.WANPath).
func (s *scheduler) wanSample(node string) (rtt, rate bool) {
	n, ok := s.fleet.Get(node)
	if !ok || n.Facts == nil || n.Facts.Tier != protocol.TierCloud {
		return false, false
	}
	return live.WANPath(n.Facts.Labels)
}

// showWAN puts the WAN placement uses (live.BlendWAN: the configured one
// and the estimate) into the fleet summary.
func (s *scheduler) showWAN() {
	e, ok := s.links.WAN() // with no samples, BlendWAN is the configured WAN
	w := live.BlendWAN(s.cfg.Placement.Options().WAN, e)
	var measured *protocol.LinkEstimate
	if ok {
		r := linkRow(e)
		measured = &r
	}
	s.fleet.SetWAN(protocol.WANLink{RTTMS: ms(w.RTT), UpMbps: w.UpMbps, DownMbps: w.DownMbps, Measured: measured})
}

// probeLoop probes every online node once per interval, a share of them
// each second, until ctx ends. The nodes of an interval are those online
// when it begins (the first begins one interval, at most 30 s, after the
// start, when the fleet has reconnected); a node that comes online later
// waits for the next. The fleet is listed once per interval, not per
// probe: a whole-fleet scan holds up the receive path.
func (s *scheduler) probeLoop(ctx context.Context) {
	every := s.cfg.Placement.LinkProbe
	if every <= 0 {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	slots := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup // the probes in flight: ctx ends them
	defer wg.Wait()
	var ring []string // the nodes still to probe in this interval
	perTick := 1
	due := time.Now().Add(min(every, 30*time.Second)) // monotonic
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if len(ring) == 0 {
			if time.Now().Before(due) {
				continue
			}
			due = time.Now().Add(every)
			ring = s.fleet.OnlineIDs(ring[:0])
			perTick = max(1, int((int64(len(ring))*int64(time.Second)+int64(every)-1)/int64(every)))
		}
		for n := min(perTick, len(ring)); n > 0; n-- {
			node := ring[len(ring)-1]
			ring = ring[:len(ring)-1]
			if !s.silence.start(node, s.monotonic()) {
				continue // in flight still, or silent lately (probeSilence)
			}
			select {
			case slots <- struct{}{}:
			default:
				s.silence.end(node, s.monotonic(), false, false, every)
				continue // the probes in flight are slow: this node waits for the next interval
			}
			wg.Go(func() {
				defer func() { <-slots }()
				answered, silent := s.probe(ctx, node)
				s.silence.end(node, s.monotonic(), answered, silent, every)
			})
		}
	}
}

// probe measures the round trip to node and records it. It reports
// whether the node answered, and whether it stayed silent for the whole
// probeTimeout (not when ctx ended first).
func (s *scheduler) probe(ctx context.Context, node string) (answered, silent bool) {
	id := blob.ID{Size: 1}
	_, _ = rand.Read(id.Sum[:])
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	st, err := s.blobs.Fetch(pctx, node, id)
	rtt := time.Since(start) // monotonic
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return false, ctx.Err() == nil && pctx.Err() != nil
	}
	if err == nil || st.Retries > 0 {
		return true, false // a node answering with bytes, or a retried want: no sample
	}
	now := s.monotonic()
	est, err := s.links.ObserveRTT(node, rtt, now)
	if err != nil {
		return true, false
	}
	s.fleet.SetLink(node, linkRow(est))
	if wan, _ := s.wanSample(node); wan {
		if _, err := s.links.ObserveWANRTT(rtt, now); err == nil {
			s.showWAN()
		}
	}
	return true, false
}

// linkRow is an estimate as the fleet view shows it.
func linkRow(e links.Estimate) protocol.LinkEstimate {
	return protocol.LinkEstimate{
		RTTMS: ms(e.RTT), RTTDevMS: ms(e.RTTDev), RTTSamples: uint64(e.RTTSamples),
		Mbps: e.Mbps, MbpsDev: e.MbpsDev, MbpsSamples: uint64(e.MbpsSamples),
		UpMbps: e.UpMbps, UpMbpsDev: e.UpMbpsDev, UpMbpsSamples: uint64(e.UpSamples),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
