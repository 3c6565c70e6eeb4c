package collect

import "errors"

// cpuTimes is one CPU's cumulative time, in the kernel's ticks (USER_HZ).
// guest and guest_nice are left out because the kernel already counts them
// in user and nice.
type cpuTimes struct {
	name string // "cpu0": how a CPU is matched between two snapshots

	user, nice, system, idle, iowait, irq, softirq, steal uint64
}

var errNoCPUs = errors.New("no per-cpu lines")

// sub returns a-b, or 0 when a counter went backwards: iowait may decrease
// (proc(5)), and a CPU that went offline and came back restarts its counts.
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// cpuDelta splits the ticks one CPU spent between two snapshots into busy
// and idle. Busy is everything but idle and iowait; steal counts as busy
// because the node could not use that time either.
func cpuDelta(prev, cur cpuTimes) (busy, idle uint64) {
	busy = sub(cur.user, prev.user) + sub(cur.nice, prev.nice) + sub(cur.system, prev.system) +
		sub(cur.irq, prev.irq) + sub(cur.softirq, prev.softirq) + sub(cur.steal, prev.steal)
	idle = sub(cur.idle, prev.idle) + sub(cur.iowait, prev.iowait)
	return busy, idle
}

// busyPercent is busy over busy+idle, in percent rounded to 0.01; 0 when
// no tick elapsed.
func busyPercent(busy, idle uint64) float64 {
	if busy+idle == 0 {
		return 0
	}
	return round(clampPercent(float64(busy)/float64(busy+idle)*100), 2)
}

// cpuUsage appends to dst the busy percent of every CPU in cur, matched by
// name with prev, and returns it with the busy percent of all of them
// together. A CPU absent from prev (just brought online) reads 0.
//
// The total is summed from the per-CPU lines rather than read from the
// aggregate "cpu" line: the kernel sums that line from the same counters,
// and reading it would make the kernel generate /proc/stat a second time
// per sample. They differ only in the interval a CPU goes offline.
func cpuUsage(dst []float64, prev, cur []cpuTimes) (total float64, perCore []float64) {
	var busy, idle uint64
	for i, c := range cur {
		// The usual case: the same CPUs in the same order. A CPU with no
		// baseline is its own, which makes it 0%.
		p := c
		if i < len(prev) && prev[i].name == c.name {
			p = prev[i]
		} else {
			for _, q := range prev {
				if q.name == c.name {
					p = q
					break
				}
			}
		}
		b, id := cpuDelta(p, c)
		busy, idle = busy+b, idle+id
		dst = append(dst, busyPercent(b, id))
	}
	return busyPercent(busy, idle), dst
}
