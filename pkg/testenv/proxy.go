package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy forwards TCP from a loopback port to a target (a broker) and
// can cut the path, as a partition or an outage does to a link: Cut closes
// every connection and refuses new ones until Heal.
type CutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // guards conns, down and shape
	conns []net.Conn
	down  bool
	shape *Shape // nil: a plain path (NewShapedProxy)
	wg    sync.WaitGroup

	delivered atomic.Int64 // bytes written to clients (Downstream)
}

// NewCutProxy starts a proxy to target; it stops when the test ends.
func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's address as a tcp:// broker URL.
func (p *CutProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *CutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		shape := p.shape
		p.mu.Unlock()
		p.wg.Add(2)
		if shape != nil {
			go p.shapedPipe(c, u, *shape, &p.delivered)
			go p.shapedPipe(u, c, *shape, nil)
			continue
		}
		go p.pipe(c, u, &p.delivered)
		go p.pipe(u, c, nil)
	}
}

// pipe copies src to dst, adding what it writes to count (if not nil).
func (p *CutProxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	defer p.wg.Done()
	var w io.Writer = dst
	if count != nil {
		w = countingWriter{dst, count}
	}
	_, _ = io.Copy(w, src)
	dst.Close()
	src.Close()
}

// countingWriter adds the bytes each Write wrote to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Downstream returns the bytes the proxy has delivered from the target to
// its clients, over every connection so far: what crossed the link toward
// the nodes. Bytes still queued on a shaped link when it is cut are lost
// with the connection and not counted.
func (p *CutProxy) Downstream() int64 { return p.delivered.Load() }

// Cut closes every connection and refuses new ones until Heal.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Heal takes connections again.
func (p *CutProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
