package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// client sends requests to one ticketd, and to no other host.
type client struct {
	base string
	hc   *http.Client
}

// newClient returns a client keeping up to conns idle connections to the server.
func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: timeout,
		// A redirect could lead elsewhere: ticketbench talks to the given server only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// close releases the idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// apiError is an answer that is not a success: a problem's "status title: detail" and
// its field paths, or the status and the start of the body.
type apiError struct {
	Status int
	Code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// call sends a request with token and body (JSON-encoded unless it is []byte, then sent
// as contentType), and decodes a successful JSON answer into out (unless nil). It returns
// the HTTP status; an answer that is not a success is an *apiError.
func (c *client) call(ctx context.Context, method, path, token string, body any, contentType string, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, fmt.Errorf("encode the request: %w", err)
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("%s %s: ticketd at %s: %w", method, path, c.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, problemOf(method, path, res, raw)
	}
	if out != nil {
		if err := gojson.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return res.StatusCode, nil
}

func problemOf(method, path string, res *http.Response, raw []byte) error {
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
		Errors []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") && json.Unmarshal(raw, &p) == nil && p.Status != 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s: %d %s: %s", method, path, p.Status, p.Title, p.Detail)
		for _, e := range p.Errors {
			fmt.Fprintf(&b, "\n  %s: %s", e.Path, e.Message)
		}
		return &apiError{Status: res.StatusCode, Code: p.Code, msg: b.String()}
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return &apiError{Status: res.StatusCode, msg: fmt.Sprintf("%s %s: ticketd answered %s: %s", method, path, res.Status, s)}
}
