// Package report decides which samples the agent sends: the change-only
// filter that lets an idle node stay almost silent.
//
// A sample is sent when any metric moved past its threshold since the last
// sample sent (not the previous sample, so a slow drift is reported once it
// adds up), when the throttling flags changed at all, or when the node has
// been silent for the heartbeat interval. The first sample is always sent.
//
// The Filter is a value the sampling loop owns; it does no I/O and keeps no
// clock of its own, so its tests pass times in.
//
//	f := report.NewFilter(report.DefaultThresholds())
//	for range ticker.C {
//		s, err := collector.Sample(ctx)
//		...
//		now := time.Now()
//		d := f.Decide(s, now)
//		if !d.Send {
//			continue
//		}
//		if err := outbox.Put(s.Metrics(header, d.Heartbeat)); err != nil {
//			continue // not recorded as sent: the next sample tries again
//		}
//		f.Sent(s, now)
//	}
package report
