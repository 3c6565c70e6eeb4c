package live

import (
	"time"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/place/links"
)

// BlendWAN is the WAN placement uses: the configured one (the prior; its defaults for
// what it leaves unset, as New's) with the measured
// estimate blended in as an edge node's link is (links.Blend: the prior counts as one
// sample). The round trip, the down direction (cloud → site) and the up direction (site →
// cloud) are measured: probes of the cloud nodes, the transfers the scheduler pulls from
// them, and those they fetch from it (timed as the scheduler serves them). A quantity not
// measured yet stays as configured.
func BlendWAN(prior WAN, e links.Estimate) WAN {
	prior = prior.withDefaults()
	w := prior
	if e.RTTSamples > 0 {
		w.RTT = time.Duration(links.Blend(float64(prior.RTT), float64(e.RTT), e.RTTSamples))
	}
	if e.MbpsSamples > 0 {
		w.DownMbps = links.Blend(prior.DownMbps, e.Mbps, e.MbpsSamples)
	}
	if e.UpSamples > 0 {
		w.UpMbps = links.Blend(prior.UpMbps, e.UpMbps, e.UpSamples)
	}
	return w
}

// WANPath says which of a cloud node's measurements are samples of the WAN: those of
// the quantities it does not declare a path of its own for (LabelRTT: a farther region;
// LabelBandwidth: a slower path). A declared quantity is measured as the node's own, as
// an edge node's link is.
func WANPath(labels map[string]string) (rtt, rate bool) {
	r, ownRTT := labelValue(labels, LabelRTT, 0, 60000)
	b, ownRate := labelValue(labels, LabelBandwidth, 0, 1e6)
	return !ownRTT || r == 0, !ownRate || b == 0
}

// refreshWAN sets the fleet's WAN from the configuration and the measurements.
func (p *Placer) refreshWAN() {
	w := p.opt.WAN
	if p.opt.Links != nil {
		if e, ok := p.opt.Links.WAN(); ok {
			w = BlendWAN(w, e)
		}
	}
	p.fleet.SetWAN(wanLink(w))
}

func wanLink(w WAN) place.Link {
	return place.Link{RTT: w.RTT.Seconds(), Up: w.UpMbps * bytesPerMegabit, Down: w.DownMbps * bytesPerMegabit}
}
