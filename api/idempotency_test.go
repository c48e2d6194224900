package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
)

// TestIdempotencyKeyStandsForOneRequest: an Idempotency-Key sent again with the same
// request is a retry (the same ticket, nothing written twice); sent with another request
// it is refused with 422 idempotency-key-reused and writes nothing, where it used to open
// a second ticket whose events carried the first's ids.
func TestIdempotencyKeyStandsForOneRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, _, _, _ := s.refundCast()
		sub := func(key string) map[string]any {
			return map[string]any{"process": "refund", "business_key": key, "submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}
		}
		first := s.must(s.call("POST", "/v1/tickets", shop, sub("SO-1"), "Idempotency-Key", "k-1"), http.StatusCreated, "submit")
		s.must(s.call("POST", "/v1/tickets", shop, sub("SO-1"), "Idempotency-Key", "k-1"), http.StatusOK, "the same request again")

		reused := s.call("POST", "/v1/tickets", shop, sub("SO-2"), "Idempotency-Key", "k-1")
		if reused.status != http.StatusUnprocessableEntity || reused.str("code") != "idempotency-key-reused" {
			t.Fatalf("the key with another request: %d %s", reused.status, reused.raw)
		}
		// Another caller's key of the same name is its own.
		other := s.principal("svc-shop-eu", "service", "shop", "system") // a second client of the shop
		s.must(s.call("POST", "/v1/tickets", other, sub("SO-2"), "Idempotency-Key", "k-1"), http.StatusCreated, "another caller's k-1")
		// A command on the ticket with the key of its submission is another request too.
		approve := s.call("POST", "/v1/tickets/"+first.str("ticket_id")+"/approve", shop, map[string]any{}, "Idempotency-Key", "k-1")
		if approve.status != http.StatusUnprocessableEntity || approve.str("code") != "idempotency-key-reused" {
			t.Fatalf("the key on another operation: %d %s", approve.status, approve.raw)
		}

		evs, err := s.store.ReadAll(context.Background(), eventstore.ReadAllOptions{Count: 10000})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, e := range evs {
			if prev, ok := ids[e.ID.String()]; ok {
				t.Fatalf("event id %s in %s and %s", e.ID, prev, e.Stream)
			}
			ids[e.ID.String()] = e.Stream
		}
		n := 0
		for _, e := range evs {
			if e.Type == "ticket.submitted" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d tickets submitted, want 2 (SO-1 once, and the second client's SO-2)", n)
		}
	})
}
