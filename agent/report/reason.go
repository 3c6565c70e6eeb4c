package report

import "strings"

// Reason is the set of reasons a sample is sent.
type Reason uint16

// Reasons, in the order String lists them.
const (
	ReasonFirst     Reason = 1 << iota // nothing was sent yet (or since Reset)
	ReasonHeartbeat                    // nothing changed, but the silence lasted Heartbeat
	ReasonThrottle                     // throttling flags changed, or appeared or vanished
	ReasonCPU
	ReasonLoad
	ReasonMem
	ReasonSwap
	ReasonDisk
	ReasonNet
	ReasonTemp // a sensor moved, or one appeared or vanished
)

var reasonNames = [...]string{"first", "heartbeat", "throttle", "cpu", "load", "mem", "swap", "disk", "net", "temp"}

// String lists the reasons, "cpu,temp", or "none".
func (r Reason) String() string {
	if r == 0 {
		return "none"
	}
	var b strings.Builder
	for i, name := range reasonNames {
		if r&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// Decision is the filter's verdict on one sample.
type Decision struct {
	// Send is true when the sample must be sent.
	Send bool
	// Heartbeat is true when it is sent only because the silence lasted
	// Heartbeat; it goes into protocol.Metrics.Heartbeat.
	Heartbeat bool
	// Reason says why; 0 when Send is false.
	Reason Reason
}
