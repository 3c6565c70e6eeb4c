package testenv

import (
	"io"
	"net"
	"sync"
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
			go p.shapedPipe(c, u, *shape)
			go p.shapedPipe(u, c, *shape)
			continue
		}
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *CutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

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
