package collect

import (
	"bytes"
	"errors"
)

// cpuTimes is one "cpu" line of /proc/stat: cumulative time in USER_HZ
// ticks. guest and guest_nice are left out because the kernel already counts
// them in user and nice.
type cpuTimes struct {
	id int // N of cpuN; -1 for the aggregate line

	user, nice, system, idle, iowait, irq, softirq, steal uint64
}

// procStat is what Tether takes from /proc/stat.
type procStat struct {
	total cpuTimes
	cores []cpuTimes // online CPUs, in the kernel's order
	btime uint64     // boot time, seconds since the epoch
}

var errNoCPULine = errors.New("no aggregate cpu line")

// parseStat parses /proc/stat into st, reusing st.cores.
//
//	cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
//	cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
//	...
//	btime 1717000000
func parseStat(data []byte, st *procStat) error {
	st.cores = st.cores[:0]
	st.btime = 0
	seenTotal := false
	for len(data) > 0 {
		var line []byte
		line, data = nextLine(data)
		name, rest := nextField(line)
		switch {
		case bytes.Equal(name, []byte("cpu")):
			t, ok := parseCPULine(rest)
			if !ok {
				return errors.New("malformed aggregate cpu line")
			}
			t.id = -1
			st.total, seenTotal = t, true
		case bytes.HasPrefix(name, []byte("cpu")):
			id, ok := parseUint(name[3:])
			t, ok2 := parseCPULine(rest)
			if !ok || !ok2 || id > 1<<20 {
				return errors.New("malformed per-cpu line")
			}
			t.id = int(id)
			st.cores = append(st.cores, t)
		case bytes.Equal(name, []byte("btime")):
			f, _ := nextField(rest)
			st.btime, _ = parseUint(f)
		}
	}
	if !seenTotal {
		return errNoCPULine
	}
	return nil
}

// parseCPULine parses the counters after a cpu line's name. Kernels before
// 2.6.11 lack steal and some later columns; at least user, nice, system and
// idle are required.
func parseCPULine(b []byte) (cpuTimes, bool) {
	var t cpuTimes
	fields := [...]*uint64{&t.user, &t.nice, &t.system, &t.idle, &t.iowait, &t.irq, &t.softirq, &t.steal}
	for i, p := range fields {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			return t, i >= 4
		}
		v, ok := parseUint(f)
		if !ok {
			return t, false
		}
		*p = v
	}
	return t, true
}

// sub returns a-b, or 0 when a counter went backwards: iowait may decrease
// (proc(5)), and a CPU that went offline and came back restarts its counts.
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// cpuPercent is the share of the interval between two snapshots of one CPU
// that it was busy, in percent. Busy is everything but idle and iowait;
// steal counts as busy because the node could not use that time either. It
// is 0 when no tick elapsed.
func cpuPercent(prev, cur cpuTimes) float64 {
	busy := sub(cur.user, prev.user) + sub(cur.nice, prev.nice) + sub(cur.system, prev.system) +
		sub(cur.irq, prev.irq) + sub(cur.softirq, prev.softirq) + sub(cur.steal, prev.steal)
	idle := sub(cur.idle, prev.idle) + sub(cur.iowait, prev.iowait)
	if busy+idle == 0 {
		return 0
	}
	return round(clampPercent(float64(busy)/float64(busy+idle)*100), 2)
}

// perCorePercent appends to dst the busy percent of every CPU in cur,
// matched by number with prev; a CPU absent from prev (just brought online)
// reads 0.
func perCorePercent(dst []float64, prev, cur []cpuTimes) []float64 {
	for i, c := range cur {
		var p cpuTimes
		switch {
		case i < len(prev) && prev[i].id == c.id: // the usual case: same CPUs, same order
			p = prev[i]
		default:
			p = c // no baseline: 0%
			for _, q := range prev {
				if q.id == c.id {
					p = q
					break
				}
			}
		}
		dst = append(dst, cpuPercent(p, c))
	}
	return dst
}
