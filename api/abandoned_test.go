package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
)

// errorRecords is a slog handler that keeps the messages of the records at error level.
type errorRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *errorRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *errorRecords) WithGroup(string) slog.Handler            { return h }

func (h *errorRecords) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		h.msgs = append(h.msgs, r.Message)
		h.mu.Unlock()
	}
	return nil
}

func (h *errorRecords) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// TestAbandonedRequestIsNoServerError: a query waiting for its read model (min_position)
// that its client gives up on is not an error of the server: nothing is logged at error
// level for it, as it was before (a client that times out its reads filled the log).
func TestAbandonedRequestIsNoServerError(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	errs := &errorRecords{}
	s := start(t, store, dbURL, func(c *api.Config) { c.Logger = slog.New(errs) })
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
	// The server notices the client is gone and ends the request.
	time.Sleep(500 * time.Millisecond)
	if got := errs.all(); len(got) > 0 {
		t.Fatalf("an abandoned request logged at error level: %q", got)
	}
}
