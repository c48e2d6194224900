package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
)

// logRecords is a slog handler that keeps the level and message of every record.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }

func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}

// find returns the first record whose message is one of msgs.
func (h *logRecords) find(msgs ...string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if slices.Contains(msgs, r.Message) {
			return r, true
		}
	}
	return slog.Record{}, false
}

// TestAbandonedRequestIsNoServerError: a query waiting for its read model (min_position)
// that its client gives up on is not an error of the server: nothing is logged at error
// level for it, as it was before (a client that times out its reads filled the log).
func TestAbandonedRequestIsNoServerError(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	logs := &logRecords{}
	s := start(t, store, dbURL, func(c *api.Config) { c.Logger = slog.New(logs) })
	shop, _, _, _ := s.refundCast()
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "K1",
		"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}), http.StatusCreated, "submit")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// A position the read model cannot reach: the client gives up first.
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/v1/tickets/"+sub.str("ticket_id")+"?min_position=999999999/999999999", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+shop)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the wait answered %d before the client gave up", res.StatusCode)
	}
	// The server notices the client is gone and ends the request, with one record of it.
	var rec slog.Record
	waitFor(t, "the server's record of the abandoned request", func() bool {
		var ok bool
		rec, ok = logs.find("request failed", "request abandoned by its client")
		return ok
	})
	if rec.Level >= slog.LevelError {
		t.Fatalf("an abandoned request logged at %s: %q", rec.Level, rec.Message)
	}
}
