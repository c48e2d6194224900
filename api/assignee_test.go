package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestTransferAndSignerNameAnEnabledUser: a task is transferred, a signer added, a
// delegation granted and a ticket copied only to users who exist and are enabled. Handed
// to anyone else, the ticket would wait for a decision nobody can make; a grant or a copy
// to a mistyped name would go nowhere. They used to be accepted.
func TestTransferAndSignerNameAnEnabledUser(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, _, _ := s.refundCast()
		s.principal("wang", "user", "", "approver")
		sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "SO-1",
			"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}), http.StatusCreated, "submit")
		id := sub.str("ticket_id")
		s.must(s.call("POST", "/v1/principals/wang/disable", s.admin, map[string]any{}), http.StatusOK, "disable wang")

		for _, c := range []struct {
			name, path string
			body       map[string]any
			code, at   string
		}{
			{"transfer to nobody", "/transfer", map[string]any{"to": "nobody"}, "unknown-user", "to"},
			{"transfer to a business system", "/transfer", map[string]any{"to": "svc-shop"}, "not-a-user", "to"},
			{"transfer to a disabled user", "/transfer", map[string]any{"to": "wang"}, "disabled-user", "to"},
			{"a signer nobody", "/signers", map[string]any{"signer": "nobody", "where": "after"}, "unknown-user", "signer"},
			{"a copy to nobody", "/cc", map[string]any{"users": []string{"fang", "nobody"}}, "unknown-user", "users[1]"},
		} {
			r := s.call("POST", "/v1/tickets/"+id+c.path, xiaoli, c.body)
			if r.status != http.StatusUnprocessableEntity || r.str("code") != c.code || !strings.Contains(string(r.raw), `"path":"`+c.at+`"`) {
				t.Errorf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
		for _, c := range []struct {
			name string
			body map[string]any
			code string
		}{
			{"a delegation to nobody", map[string]any{"delegate": "nobody"}, "unknown-user"},
			{"a delegation to a business system", map[string]any{"delegate": "svc-shop"}, "not-a-user"},
		} {
			r := s.call("POST", "/v1/delegations", xiaoli, c.body)
			if r.status != http.StatusUnprocessableEntity || r.str("code") != c.code || !strings.Contains(string(r.raw), `"path":"delegate"`) {
				t.Errorf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
		copied := s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "SO-2", "cc": []string{"nobody"},
			"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")})
		if copied.status != http.StatusUnprocessableEntity || copied.str("code") != "unknown-user" {
			t.Errorf("a submission copied to nobody: %d %s", copied.status, copied.raw)
		}
		// The task is still xiaoli's to hand on.
		moved := s.must(s.call("POST", "/v1/tickets/"+id+"/transfer", xiaoli, map[string]any{"to": "fang"}), http.StatusOK, "transfer to fang")
		if pending, _ := moved.body["pending"].([]any); len(pending) != 1 || pending[0] != "fang" {
			t.Fatalf("after the transfer to fang, pending %v", moved.body["pending"])
		}
	})
}
