package api_test

import (
	"net/http"
	"testing"
	"time"
)

// TestTicketSLAIsShown: the refund process limits the whole ticket to 24 hours ("money
// back within a day"). The limit was declared and never applied; the ticket's view, its
// state as of an instant and the handler's pending list now say when the ticket is due,
// beside its active node's due time.
func TestTicketSLAIsShown(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, _, _ := s.refundCast()
		sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "SO-1",
			"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}), http.StatusCreated, "submit")
		id := sub.str("ticket_id")
		view := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+sub.str("position"), shop, nil), http.StatusOK, "the ticket")
		state := s.must(s.call("GET", "/v1/tickets/"+id+"/state?position="+sub.str("position"), s.admin, nil), http.StatusOK, "its state")
		pending := s.must(s.call("GET", "/v1/workbench/pending?min_position="+sub.str("position"), xiaoli, nil), http.StatusOK, "xiaoli's pending list")
		items, _ := pending.body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("xiaoli's pending list: %s", pending.raw)
		}
		item := response{body: items[0].(map[string]any), raw: pending.raw}
		for _, r := range []response{view, state, item} {
			submitted, err1 := time.Parse(time.RFC3339Nano, r.str("submitted_at"))
			due, err2 := time.Parse(time.RFC3339Nano, r.str("ticket_due_at"))
			node, err3 := time.Parse(time.RFC3339Nano, r.str("due_at"))
			if err1 != nil || err2 != nil || err3 != nil || due.Sub(submitted).Round(time.Millisecond) != 24*time.Hour ||
				node.Sub(submitted).Round(time.Millisecond) != 8*time.Hour {
				t.Fatalf("due times: ticket %q node %q, submitted %q: %s", r.str("ticket_due_at"), r.str("due_at"), r.str("submitted_at"), r.raw)
			}
		}
	})
}
