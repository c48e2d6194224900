package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ticketledger/ticketledger/relay/webhook"
)

// Limits on what an attempt reads back and records.
const (
	responseExcerpt = 512
	responseDrain   = 64 << 10
	errorExcerpt    = 1000
)

// report logs what an attempt changed that an operator should know.
func (d *Dispatcher) report(t target, r result) {
	switch {
	case r.disable != "":
		d.log.Warn("relay: endpoint disabled", "endpoint", t.endpoint.ID, "url", t.endpoint.URL, "reason", r.disable)
	case r.state == Dead:
		d.log.Warn("relay: delivery dead-lettered", "delivery", r.id, "endpoint", t.endpoint.ID, "ticket", r.ticketID, "attempts", r.attempt, "err", r.err)
	case r.err != "":
		d.log.Debug("relay: attempt failed", "delivery", r.id, "endpoint", t.endpoint.ID, "attempt", r.attempt, "err", r.err, "next", r.next)
	}
}

// errStopped is the cause of an attempt cut by the dispatcher's stop.
var errStopped = errors.New("the dispatcher stopped during the attempt")

// attempt POSTs the delivery and decides what follows. It runs in d.attempts, which a
// stop of the dispatcher ends only after its grace.
func (d *Dispatcher) attempt(t target, c claimed) result {
	start := time.Now()
	r := result{endpointID: t.endpoint.ID, claimed: c, startedAt: start.UTC(), state: Pending, failures: c.failures}
	secrets := make([]webhook.Secret, len(t.secrets))
	for i, s := range t.secrets {
		secrets[i] = s.Secret
	}
	actx, cancel := context.WithTimeout(d.attempts, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, t.endpoint.URL, bytes.NewReader(c.body))
	if err != nil {
		r.latency = time.Since(start)
		d.fail(&r, fmt.Sprintf("build the request: %v", err), 0)
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	webhook.SetHeaders(req.Header, secrets, c.id.String(), start, c.body)
	resp, err := d.client.Do(req)
	if err != nil {
		r.latency = time.Since(start)
		if errors.Is(context.Cause(actx), errStopped) {
			r.err = "interrupted: " + errStopped.Error()
			r.next = d.store.now()
			return r
		}
		d.fail(&r, err.Error(), 0)
		return r
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, responseExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseDrain))
	resp.Body.Close()
	r.latency = time.Since(start)
	r.status = resp.StatusCode
	r.response = clean(string(excerpt), responseExcerpt)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.state, r.next = Delivered, d.store.now()
	case resp.StatusCode == http.StatusGone:
		r.err = "410 Gone: the endpoint is disabled"
		r.disable = "the receiver answered 410 Gone at " + r.startedAt.Format(time.RFC3339)
		r.next = d.store.now()
	default:
		d.fail(&r, "HTTP "+resp.Status, retryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return r
}

// fail counts a failed attempt and schedules the next one, or dead-letters the delivery
// after the last attempt of the schedule. The delay is the schedule's, with jitter,
// unless the receiver asked for a longer one (capped at MaxRetryAfter).
func (d *Dispatcher) fail(r *result, reason string, asked time.Duration) {
	r.err = clean(reason, errorExcerpt)
	r.failures++
	now := d.store.now()
	if r.failures >= len(d.cfg.Schedule) {
		r.state, r.next = Dead, now
		return
	}
	delay := jitter(d.cfg.Schedule[r.failures], d.cfg.Jitter)
	if asked > delay {
		delay = min(asked, d.cfg.MaxRetryAfter)
	}
	r.state, r.next = Pending, now.Add(delay)
}

// jitter spreads d uniformly within ±f of itself.
func jitter(d time.Duration, f float64) time.Duration {
	if d <= 0 || f <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}

// retryAfter reads a Retry-After header (delay in seconds or an HTTP date) as a delay
// from now; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// clean makes s storable as PostgreSQL text (valid UTF-8, no NUL) and at most n bytes.
func clean(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}
