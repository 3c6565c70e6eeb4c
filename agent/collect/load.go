package collect

import (
	"errors"
	"math"

	"github.com/shirou/gopsutil/v4/load"
	"github.com/tether-edge/tether/pkg/protocol"
)

// loadAvg checks gopsutil's reading of the load averages, which are parsed
// as floats: "NaN" or a negative number would not pass the scheduler's
// validation.
func loadAvg(a *load.AvgStat) (protocol.Load, error) {
	for _, x := range []float64{a.Load1, a.Load5, a.Load15} {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return protocol.Load{}, errors.New("implausible load average")
		}
	}
	return protocol.Load{M1: a.Load1, M5: a.Load5, M15: a.Load15}, nil
}
