package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// wire is one load worker's own keep-alive connection to ticketd over plain HTTP/1.1: it
// writes each request and reads its answer in the worker's goroutine. net/http's
// Transport hands every request to a writer goroutine of the connection and every answer
// back from a reader goroutine; on a machine that the server, its database and the load
// share, each hand-over waits for a CPU, and that wait would count as the server's
// latency.
type wire struct {
	addr    string // host:port to dial
	host    string // the Host header
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	buf     []byte
	// served is the last answer's server time (its Server-Timing "app" duration), or -1
	// when the answer did not carry one; stored, the part of it spent appending to the
	// event store ("store", -1 when absent); paced, the part the answer waited for a read
	// model ("paced", 0 when absent).
	served, stored, paced time.Duration
}

// newWire returns a wire to the server at base, or nil when base is not plain http (the
// load then goes through the shared client).
func newWire(base string, timeout time.Duration) *wire {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &wire{addr: addr, host: u.Host, timeout: timeout}
}

// dial opens the connection unless it is open.
func (w *wire) dial(ctx context.Context) error {
	if w.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return err
	}
	w.conn, w.br = c, bufio.NewReaderSize(c, 4096)
	return nil
}

// close closes the connection, if one is open.
func (w *wire) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn, w.br = nil, nil
	}
}

// post sends body as JSON to path with token, and decodes a successful answer into out.
// It returns the HTTP status; an answer that is not a success is an *apiError. A failed
// exchange closes the connection; the next post dials again.
func (w *wire) post(ctx context.Context, path, token string, body []byte, out any) (int, error) {
	status, err := w.exchange(ctx, path, token, body, out)
	if err != nil && status == 0 {
		w.close()
		return 0, fmt.Errorf("POST %s: ticketd at %s: %w", path, w.host, err)
	}
	return status, err
}

func (w *wire) exchange(ctx context.Context, path, token string, body []byte, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := w.dial(ctx); err != nil {
		return 0, err
	}
	conn := w.conn
	if err := conn.SetDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b := append(w.buf[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	w.buf = b
	if _, err := conn.Write(b); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(w.br, nil)
	if err != nil {
		return 0, err
	}
	st := res.Header.Get("Server-Timing")
	w.served, w.stored, w.paced = serverTiming(st, "app"), serverTiming(st, "store"), max(serverTiming(st, "paced"), 0)
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	if res.Close {
		w.close()
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, problemOf("POST", path, res, raw)
	}
	if out != nil {
		if err := gojson.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("POST %s: the answer is not the JSON expected: %w", path, err)
		}
	}
	return res.StatusCode, nil
}

// serverTiming returns the duration of the metric name in a Server-Timing header value,
// or -1 when it has none.
func serverTiming(v, name string) time.Duration {
	for entry := range strings.SplitSeq(v, ",") {
		metric, params, _ := strings.Cut(entry, ";")
		if strings.TrimSpace(metric) != name {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.TrimSpace(k) != "dur" {
				continue
			}
			ms, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil || ms < 0 {
				return -1
			}
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return -1
}
