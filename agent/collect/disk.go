package collect

import (
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/tether-edge/tether/pkg/protocol"
)

// diskUsage is a filesystem's usage as df(1) shows it, from gopsutil's
// statfs(2): Used counts the blocks in use, and Percent is Used over what
// unprivileged users can have (used plus available), so the root-reserved
// blocks (5% on ext4) read as full. That is when the agent can no longer
// write.
func diskUsage(u *disk.UsageStat) protocol.Usage {
	return protocol.Usage{
		Total:   u.Total,
		Used:    min(u.Used, u.Total),
		Percent: round(clampPercent(u.UsedPercent), 2),
	}
}
