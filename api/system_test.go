package api_test

import (
	"net/http"
	"testing"
)

// TestTicketsBelongToTheProcessSystem: a process names the business system it serves.
// Another system's client used to be able to submit to it (the CRM opened refunds that
// the shop's approvers then decided, and whose outcome went to the CRM); it is now
// refused with 403 wrong-system. A user's own submission belongs to the process's
// system: before, it belonged to none, so no business system could read it, report its
// execution or receive its outcome.
func TestTicketsBelongToTheProcessSystem(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, _, _, _ := s.refundCast()
		crm := s.principal("svc-crm", "service", "crm", "system")
		wang := s.principal("wang", "user", "", "approver")
		s.principal("team-a", "user", "", "data-conflict", "approver")
		s.principal("ming", "user", "", "approver")
		r := s.call("POST", "/v1/tickets", crm, map[string]any{"process": "refund", "business_key": "SO-1",
			"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")})
		if r.status != http.StatusForbidden || r.str("code") != "wrong-system" {
			t.Fatalf("the CRM submitting a refund: %d %s", r.status, r.raw)
		}
		fields := map[string]any{"lead_id": "L-7781", "lead_name": "Acme Ltd", "current_owner": "ming", "claimant": "wang",
			"first_contact": "2026-10-02", "description": "I met Acme at the fair and logged the call first.",
			"evidence": []map[string]any{{"id": "att-1", "name": "call-log.png", "url": "https://files.example/att-1", "size": 48213}}}
		if r := s.call("POST", "/v1/tickets", shop, map[string]any{"process": "data-conflict", "submitter": map[string]any{"id": "wang"},
			"fields": fields}); r.status != http.StatusForbidden || r.str("code") != "wrong-system" {
			t.Fatalf("the shop submitting a data conflict: %d %s", r.status, r.raw)
		}

		own := s.must(s.call("POST", "/v1/tickets", wang, map[string]any{"process": "data-conflict", "fields": fields}),
			http.StatusCreated, "wang submits for himself")
		id := own.str("ticket_id")
		seen := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+own.str("position"), crm, nil), http.StatusOK, "the CRM tracks wang's ticket")
		if seen.str("system") != "crm" || seen.str("submitter") != "wang" {
			t.Fatalf("wang's ticket as the CRM sees it: %s", seen.raw)
		}
		if r := s.call("GET", "/v1/tickets/"+id, shop, nil); r.status != http.StatusNotFound {
			t.Fatalf("the shop reading the CRM's ticket: %d %s", r.status, r.raw)
		}
		// Nor does a command tell the shop that the CRM's ticket exists.
		for op, body := range map[string]map[string]any{"/execution": {"status": "succeeded"}, "/withdraw": {}, "/urge": {}, "/comments": {"text": "x"}} {
			if r := s.call("POST", "/v1/tickets/"+id+op, shop, body); r.status != http.StatusNotFound || r.str("code") != "no-such-ticket" {
				t.Errorf("the shop's %s on the CRM's ticket: %d %s", op, r.status, r.raw)
			}
		}
	})
}
