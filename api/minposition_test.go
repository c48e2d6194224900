package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// notFromTheLog are the queries whose answers do not derive from the log, and so take no
// min_position: the server's own endpoints, the projections' status, and the webhook
// endpoints (operational records written as they are registered).
var notFromTheLog = []string{
	"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
	"GET /v1/projections", "GET /v1/webhooks", "GET /v1/webhooks/{endpoint_id}",
}

// TestEveryQueryTakesMinPosition checks the contract: every query of the document whose
// answer derives from the log declares min_position.
func TestEveryQueryTakesMinPosition(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL)
	for path, item := range s.server.Spec().Paths.Map() {
		op := item.Get
		if op == nil || slices.Contains(notFromTheLog, "GET "+path) {
			continue
		}
		declared := false
		for _, p := range append(op.Parameters, item.Parameters...) {
			if p.Value != nil && p.Value.In == "query" && p.Value.Name == "min_position" {
				declared = true
			}
		}
		if !declared {
			t.Errorf("GET %s takes no min_position", path)
		}
	}
}

// TestLogReadsTakeMinPosition reads what is read from the log itself, and the caller,
// at the position of the command just made: each answer reflects it at once, and a
// malformed position is refused with the parameter named.
func TestLogReadsTakeMinPosition(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, _, _ := s.refundCast()
		auditor := s.principal("audrey", "user", "", "auditor")
		sub := map[string]any{"process": "refund", "business_key": "SO-7", "title": "Refund SO-7",
			"submitter": map[string]any{"id": "cust-7"}, "fields": refundFields("20.00", "bank_transfer")}
		submitted := s.must(s.call("POST", "/v1/tickets", shop, sub), http.StatusCreated, "submit")
		id := submitted.str("ticket_id")
		granted := s.must(s.call("POST", "/v1/delegations", xiaoli, map[string]any{"delegate": "audrey", "processes": []string{"refund"}}),
			http.StatusCreated, "xiaoli delegates")
		role := s.must(s.call("PUT", "/v1/principals/audrey/roles/approver", s.admin, nil), http.StatusOK, "audrey becomes an approver")

		for _, q := range []struct {
			path, token, pos string
			check            func(response) bool
		}{
			{"/v1/tickets/" + id + "/history", auditor, submitted.str("position"), func(r response) bool { return len(list(r, "records")) > 0 }},
			{"/v1/tickets/" + id + "/state?position=" + submitted.str("position"), auditor, submitted.str("position"), func(r response) bool { return r.str("current_node") == "business" }},
			{"/v1/delegations", xiaoli, granted.str("position"), func(r response) bool { return len(list(r, "grants")) == 1 }},
			{"/v1/principals/audrey", s.admin, role.str("position"), func(r response) bool { return slices.Contains(strs(r, "roles"), "approver") }},
			{"/v1/principals/audrey/history", auditor, role.str("position"), func(r response) bool { return len(list(r, "records")) > 0 }},
			{"/v1/processes/refund", shop, submitted.str("position"), func(r response) bool { return r.str("key") == "refund" }},
			{"/v1/processes/refund/versions/1", shop, submitted.str("position"), func(r response) bool { return r.str("key") == "refund" }},
			{"/v1/me", auditor, role.str("position"), func(r response) bool { return slices.Contains(strs(r, "roles"), "approver") }},
		} {
			sep := "?"
			if strings.Contains(q.path, "?") {
				sep = "&"
			}
			if q.pos == "" {
				t.Fatalf("no position to read %s at", q.path)
			}
			r := s.must(s.call("GET", q.path+sep+"min_position="+q.pos, q.token, nil), http.StatusOK, q.path)
			if !q.check(r) {
				t.Errorf("%s at %s: %s", q.path, q.pos, r.raw)
			}
			bad := s.must(s.call("GET", q.path+sep+"min_position=soon", q.token, nil), http.StatusBadRequest, q.path+" with a malformed position")
			if !strings.Contains(string(bad.raw), "min_position") {
				t.Errorf("%s: the refusal does not name min_position: %s", q.path, bad.raw)
			}
		}
	})
}

// strs returns the strings of the array under key.
func strs(r response, key string) []string {
	var out []string
	vs, _ := r.body[key].([]any)
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
