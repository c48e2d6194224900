package pgtest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Proxy forwards TCP connections to a PostgreSQL server, for tests of what a client does
// when the network fails (Cut) or is slow (SetDelay).
type Proxy struct {
	l     net.Listener
	delay atomic.Int64 // nanoseconds
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// NewProxy starts a proxy to the server of url and returns it with url changed to go
// through it. The proxy is cut when tb ends.
func NewProxy(tb testing.TB, url string) (*Proxy, string) {
	tb.Helper()
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	target := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{l: l}
	p.wg.Add(1)
	go p.accept(target)
	tb.Cleanup(p.Cut)
	return p, strings.Replace(url, target, l.Addr().String(), 1)
}

func (p *Proxy) accept(target string) {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.forward(up, c, false)
		go p.forward(c, up, true)
	}
}

// forward copies from src to dst until either fails, delaying each chunk by the
// proxy's delay when delayed is set, and then closes dst.
func (p *Proxy) forward(dst, src net.Conn, delayed bool) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if delayed {
				time.Sleep(time.Duration(p.delay.Load()))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SetDelay makes what the server sends reach the client d later, from now on; 0 ends it.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Cut closes the listener and every forwarded connection; it is idempotent.
func (p *Proxy) Cut() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
