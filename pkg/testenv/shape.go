package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shape makes a CutProxy's path behave like a slow link, in each
// direction: bytes leave at Mbps (serialised one after another, as on the
// wire) and arrive Delay later (the propagation delay: a round trip is
// twice it). Up to a bandwidth-delay product plus Buffer bytes are in
// flight; a sender beyond that waits, as TCP's window makes it.
type Shape struct {
	Delay  time.Duration
	Mbps   float64
	Buffer int // bytes queued beyond what is in flight; default 256 KiB
}

// NewShapedProxy is NewCutProxy with every connection shaped.
func NewShapedProxy(t testing.TB, target string, s Shape) *CutProxy {
	p := NewCutProxy(t, target)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Buffer <= 0 {
		s.Buffer = 256 << 10
	}
	p.shape = &s
	return p
}

// chunk is bytes read on one side, due on the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// shapedPipe copies src to dst through the link s models. A reader
// stamps each read with when its last byte leaves (after those before
// it, at the link's rate) plus the delay; a writer delivers it then, and
// adds what it wrote to count (if not nil).
func (p *CutProxy) shapedPipe(dst, src net.Conn, s Shape, count *atomic.Int64) {
	defer p.wg.Done()
	const readSize = 16 << 10
	q := make(chan chunk, max(s.Buffer/readSize, 4)+int(s.Mbps*1e6/8*s.Delay.Seconds())/readSize)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range q {
			time.Sleep(time.Until(c.due))
			n, err := dst.Write(c.b)
			if count != nil {
				count.Add(int64(n))
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
		for range q { // let the reader finish
		}
	})
	var free time.Time // when the link has sent all it was given
	for {
		b := make([]byte, readSize)
		n, err := src.Read(b)
		if n > 0 {
			now := time.Now()
			free = maxTime(free, now).Add(time.Duration(float64(n*8) / (s.Mbps * 1e6) * float64(time.Second)))
			q <- chunk{b: b[:n], due: free.Add(s.Delay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	wg.Wait()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
