package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
)

// TestRetryAfter: an answer that a later retry may change says when to retry. A read
// model that has not reached min_position within the wait is 503 with Retry-After: 1; a
// refusal with its own time (an urge too soon, in TestDataConflictScenario) says that
// time. A request no retry can change carries none.
func TestRetryAfter(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL, func(c *api.Config) { c.WaitTimeout = time.Second })
	shop, _, _, _ := s.refundCast()
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "K1",
		"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}), http.StatusCreated, "submit")
	behind := s.must(s.call("GET", "/v1/tickets/"+sub.str("ticket_id")+"?min_position=999999999/999999999", shop, nil),
		http.StatusServiceUnavailable, "a position the read model has not reached")
	if behind.str("code") != "projection-behind" || behind.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q: %s", behind.header.Get("Retry-After"), behind.raw)
	}
	closed := s.must(s.call("POST", "/v1/tickets/"+sub.str("ticket_id")+"/resubmit", shop, map[string]any{}), http.StatusConflict, "resubmit")
	if closed.header.Get("Retry-After") != "" {
		t.Fatalf("a conflict carries Retry-After %q", closed.header.Get("Retry-After"))
	}
}
