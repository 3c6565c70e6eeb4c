package serve

import (
	"sync"
	"time"
)

// maxSilentSkip bounds how long a node that does not answer probes goes
// unprobed: it is probed again at least this often (or once an interval,
// when placement.link_probe is longer).
const maxSilentSkip = time.Hour

// probeSilence keeps the probe loop's slots for nodes that answer. A probe
// of a node that does not answer (an agent too old to serve blobs, a
// broken or hostile one) holds one of the maxProbes slots for the whole
// probeTimeout; at fleet scale enough such nodes would hold them all and
// the others would go unmeasured. So:
//   - a node with a probe in flight is not probed again until it ends;
//   - after k probes in a row without an answer, a node is skipped for
//     min(interval × 2^(k−1), max(maxSilentSkip, interval)) from the last
//     one's end, measured on the monotonic clock; one answer clears it.
//
// It is safe for concurrent use (the loop and the probes in flight).
type probeSilence struct {
	mu     sync.Mutex
	flight map[string]bool
	silent map[string]silentNode
}

type silentNode struct {
	misses int
	until  time.Duration // monotonic: skipped before this
}

func newProbeSilence() *probeSilence {
	return &probeSilence{flight: map[string]bool{}, silent: map[string]silentNode{}}
}

// start reports whether node may be probed at now, and if so marks its
// probe in flight; end must follow.
func (p *probeSilence) start(node string, now time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flight[node] {
		return false
	}
	if s, ok := p.silent[node]; ok && now < s.until {
		return false
	}
	p.flight[node] = true
	return true
}

// end records the outcome of node's probe at now: answered, or not (no
// answer within the timeout). A probe that ended for another reason (the
// scheduler stopping) is neither.
func (p *probeSilence) end(node string, now time.Duration, answered, silent bool, interval time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.flight, node)
	switch {
	case answered:
		delete(p.silent, node)
	case silent:
		s := p.silent[node]
		s.misses++
		skip := max(maxSilentSkip, interval)
		if s.misses-1 < 20 { // interval << 20 is past any cap
			skip = min(skip, interval<<(s.misses-1))
		}
		s.until = now + skip
		p.silent[node] = s
	}
}

// misses returns node's probes in a row without an answer.
func (p *probeSilence) misses(node string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent[node].misses
}
