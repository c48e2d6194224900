package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client calls ticketd's HTTP API with a bearer token.
type client struct {
	base  string
	token string
	hc    *http.Client
}

// client returns a client for the configured server and token, or a *usageError naming
// what is missing.
func (o *options) client() (*client, error) {
	u, err := url.Parse(o.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("server %q: want a URL such as %s (--server or TICKETLEDGER_SERVER)", o.server, DefaultServer)
	}
	if o.token == "" {
		return nil, usagef("no bearer token: give --token or set TICKETLEDGER_TOKEN (ticketd prints the first admin's token once, when it first starts)")
	}
	if o.timeout <= 0 {
		return nil, usagef("timeout %s: want a positive duration", o.timeout)
	}
	return &client{base: strings.TrimRight(u.String(), "/"), token: o.token, hc: &http.Client{Timeout: o.timeout}}, nil
}

// connect parses a command's flags and positional arguments, as parse does, and returns
// the positional arguments with a client of the server.
func (o *options) connect(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, *client, error) {
	pos, err := o.parse(fs, args, minArgs, maxArgs)
	if err != nil {
		return nil, nil, err
	}
	c, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	return pos, c, nil
}

// problemError is an RFC 9457 problem reported by ticketd.
type problemError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Error returns "status title: detail" and one line per offending field.
func (p *problemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		fmt.Fprintf(&b, ": %s", p.Detail)
	}
	for _, e := range p.Errors {
		if e.Path != "" {
			fmt.Fprintf(&b, "\n  %s: %s", e.Path, e.Message)
		} else if e.Message != p.Detail {
			fmt.Fprintf(&b, "\n  %s", e.Message)
		}
	}
	return b.String()
}

// request is one API call.
type request struct {
	method, path string
	// body is sent as is with contentType when it is []byte, JSON-encoded otherwise.
	body        any
	contentType string
}

// do sends req and decodes a successful JSON answer into out (unless out is nil); raw is
// the answer's body. A problem answer is a *problemError; an unreachable server, another
// answer that is not a success, or a body that does not decode are errors naming the
// server.
func (c *client) do(ctx context.Context, req request, out any) (status int, raw []byte, err error) {
	var body io.Reader
	contentType := req.contentType
	switch b := req.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, fmt.Errorf("encode the request: %w", err)
		}
		body, contentType = bytes.NewReader(j), "application/json"
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, c.base+req.path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	hr.Header.Set("Authorization", "Bearer "+c.token)
	hr.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		hr.Header.Set("Content-Type", contentType)
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", req.method, req.path, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return 0, nil, fmt.Errorf("ticketd at %s did not answer %s %s within %s: %w", c.base, req.method, req.path, c.hc.Timeout, err)
		}
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("cannot reach ticketd at %s (is it running? see --server or TICKETLEDGER_SERVER): %w", c.base, err)
	}
	defer res.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s %s: read the answer: %w", req.method, req.path, err)
	}
	if res.StatusCode >= 300 {
		if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
			p := &problemError{}
			if json.Unmarshal(raw, p) == nil && p.Status != 0 {
				return res.StatusCode, raw, p
			}
		}
		return res.StatusCode, raw, fmt.Errorf("%s %s: ticketd at %s answered %s: %s", req.method, req.path, c.base, res.Status, snippet(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, raw, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", req.method, req.path, err)
		}
	}
	return res.StatusCode, raw, nil
}

// snippet returns the start of a body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return s
}

// printJSON writes raw JSON indented.
func printJSON(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// stamp formats a time for a table; "-" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
