package collect

import "github.com/tether-edge/tether/pkg/protocol"

// fsStat is the part of statfs(2) that usage needs; sizes in bytes.
type fsStat struct {
	blocks, bfree, bavail, bsize uint64
}

// usage is a filesystem's usage as df(1) shows it: Used counts the blocks in
// use, and Percent is Used over what unprivileged users can have (used plus
// available), so the root-reserved blocks (5% on ext4) read as full. That is
// when the agent can no longer write.
func usage(s fsStat) protocol.Usage {
	total := s.blocks * s.bsize
	used := (s.blocks - min(s.bfree, s.blocks)) * s.bsize
	avail := s.bavail * s.bsize
	var pct float64
	if used+avail > 0 {
		pct = round(clampPercent(float64(used)/float64(used+avail)*100), 2)
	}
	return protocol.Usage{Total: total, Used: used, Percent: pct}
}
