package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain/process"
)

// TestRetireProcess retires the refund process over HTTP: a designer may, an approver
// may not; a retired process takes no new ticket (409 process-retired) while its open
// tickets go on; retiring again changes nothing; publishing again revives it.
func TestRetireProcess(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, _, _ := s.refundCast()
		designer := s.principal("dora", "user", "", "process-designer")
		sub := func(key string) map[string]any {
			return map[string]any{"process": "refund", "business_key": key, "title": "Refund " + key,
				"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("10.00", "bank_transfer")}
		}
		open := s.must(s.call("POST", "/v1/tickets", shop, sub("R-1")), http.StatusCreated, "submit before retiring").str("ticket_id")

		s.must(s.call("POST", "/v1/processes/refund/retire", xiaoli, map[string]any{"reason": "no"}), http.StatusForbidden, "an approver retires")
		s.must(s.call("POST", "/v1/processes/nothing/retire", designer, map[string]any{}), http.StatusNotFound, "retire an unknown process")
		retired := s.must(s.call("POST", "/v1/processes/refund/retire", designer, map[string]any{"reason": "replaced by refund-v2"}),
			http.StatusOK, "retire")
		if retired.body["retired"] != true || retired.body["appended"] != 1.0 || retired.str("position") == "" {
			t.Fatalf("the retirement: %s", retired.raw)
		}
		again := s.must(s.call("POST", "/v1/processes/refund/retire", designer, map[string]any{}), http.StatusOK, "retire again")
		if again.body["appended"] != 0.0 || again.body["retired"] != true {
			t.Fatalf("a second retirement: %s", again.raw)
		}
		shown := s.must(s.call("GET", "/v1/processes/refund?min_position="+retired.str("position"), shop, nil), http.StatusOK, "read it")
		if shown.body["retired"] != true {
			t.Fatalf("the retired process read back: %s", shown.raw)
		}
		if r := s.must(s.call("POST", "/v1/tickets", shop, sub("R-2")), http.StatusConflict, "submit to a retired process"); r.str("code") != "process-retired" {
			t.Fatalf("a submission refused with %s", r.raw)
		}
		s.must(s.call("POST", "/v1/tickets/"+open+"/approve", xiaoli, map[string]any{}), http.StatusOK, "an open ticket goes on")

		src, err := process.Example("refund")
		if err != nil {
			t.Fatal(err)
		}
		revived := s.must(s.callType("PUT", "/v1/processes/refund", designer, src, "application/yaml"), http.StatusCreated, "publish again")
		if revived.body["retired"] != false {
			t.Fatalf("the process published again: %s", revived.raw)
		}
		s.must(s.call("POST", "/v1/tickets", shop, sub("R-3")), http.StatusCreated, "submit after publishing again")
	})
}

// TestChangePrincipal changes a principal's name, department and attributes over HTTP:
// only what the body names changes; only admins may; an unknown principal is 404; a
// field of the wrong type is refused, named.
func TestChangePrincipal(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		bob := s.principal("bob", "user", "", "approver")
		created := s.must(s.call("PATCH", "/v1/principals/bob", s.admin, map[string]any{"name": "Bob Li", "department": "finance",
			"attributes": map[string]string{"level": "2"}}), http.StatusOK, "name him")
		if created.str("position") == "" {
			t.Fatalf("a change without its position: %s", created.raw)
		}
		renamed := s.must(s.call("PATCH", "/v1/principals/bob", s.admin, map[string]any{"name": "Li Bo"}), http.StatusOK, "rename him")
		got := s.must(s.call("GET", "/v1/principals/bob?min_position="+renamed.str("position"), s.admin, nil), http.StatusOK, "read him")
		attrs, _ := got.body["attributes"].(map[string]any)
		if got.str("name") != "Li Bo" || got.str("department") != "finance" || attrs["level"] != "2" {
			t.Fatalf("after renaming only: %s", got.raw)
		}
		s.must(s.call("PATCH", "/v1/principals/bob", bob, map[string]any{"name": "Boss"}), http.StatusForbidden, "he renames himself")
		s.must(s.call("PATCH", "/v1/principals/nobody", s.admin, map[string]any{"name": "x"}), http.StatusNotFound, "an unknown principal")
		if r := s.must(s.call("PATCH", "/v1/principals/bob", s.admin, map[string]any{"name": 7}), http.StatusUnprocessableEntity, "a name that is a number"); !strings.Contains(string(r.raw), `"path":"name"`) {
			t.Fatalf("the refusal does not name the field: %s", r.raw)
		}
	})
}

// TestWorkbenchCounts reads the sizes of the workbench lists over HTTP as approvals move
// tickets on: the caller's own, anyone's for an admin, and nobody else's.
func TestWorkbenchCounts(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, fang, _ := s.refundCast()
		var last string
		for _, key := range []string{"W-1", "W-2"} {
			r := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": key, "title": "Refund " + key,
				"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("10.00", "bank_transfer")}), http.StatusCreated, "submit "+key)
			last = r.str("position")
		}
		counts := func(token, query string) map[string]any {
			t.Helper()
			return s.must(s.call("GET", "/v1/workbench?"+query, token, nil), http.StatusOK, "counts "+query).body
		}
		want := func(what string, got map[string]any, pending, done float64) {
			t.Helper()
			if got["pending"] != pending || got["done"] != done {
				t.Fatalf("%s: %v, want %v pending and %v done", what, got, pending, done)
			}
		}
		want("xiaoli after two submissions", counts(xiaoli, "min_position="+last), 2, 0)
		want("fang after two submissions", counts(fang, "min_position="+last), 0, 0)

		page := s.must(s.call("GET", "/v1/workbench/pending?min_position="+last, xiaoli, nil), http.StatusOK, "xiaoli's pending")
		items := list(page, "items")
		if len(items) != 2 {
			t.Fatalf("xiaoli's pending page: %s", page.raw)
		}
		id, _ := items[0]["ticket_id"].(string)
		approved := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{}), http.StatusOK, "xiaoli approves")
		at := "min_position=" + approved.str("position")
		want("xiaoli after approving one", counts(xiaoli, at), 1, 1)
		want("fang after xiaoli's approval", counts(fang, at), 1, 0)
		want("xiaoli's counts read by the admin", counts(s.admin, at+"&principal=xiaoli"), 1, 1)
		want("xiaoli's counts of another process", counts(xiaoli, at+"&process=data-conflict"), 0, 0)
		s.must(s.call("GET", "/v1/workbench?principal=xiaoli", fang, nil), http.StatusForbidden, "fang reads xiaoli's counts")
	})
}

// TestIssuedTokenExpiry issues a token without expiry, whose answer has no expires_at
// (not the zero time), and one with, whose answer has it.
func TestIssuedTokenExpiry(t *testing.T) {
	store, _ := storeKinds[0].open(t)
	s := start(t, store, "")
	r := s.must(s.call("POST", "/v1/principals/admin/tokens", s.admin, map[string]any{"label": "second"}), http.StatusCreated, "issue a token")
	if !strings.HasPrefix(r.str("token"), "tlk_") || r.str("token_id") == "" || r.str("position") == "" {
		t.Fatalf("the answer: %s", r.raw)
	}
	if _, ok := r.body["expires_at"]; ok {
		t.Fatalf("a token without expiry has expires_at: %s", r.raw)
	}
	s.must(s.call("GET", "/v1/me", r.str("token"), nil), http.StatusOK, "the new token")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = s.must(s.call("POST", "/v1/principals/admin/tokens", s.admin, map[string]any{"label": "third", "expires_at": until}), http.StatusCreated, "issue one that expires")
	if at, err := time.Parse(time.RFC3339, r.str("expires_at")); err != nil || !at.Equal(until) {
		t.Fatalf("expires_at %q, want %s: %s", r.str("expires_at"), until, r.raw)
	}
}

// TestSystemRole checks that a service principal acts for its business system only while
// it holds the role system: without it, it may only ask who it is.
func TestSystemRole(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL)
	_, xiaoli, _, _ := s.refundCast()
	shop2 := s.principal("svc-shop2", "service", "shop", "reporting")
	sub := map[string]any{"process": "refund", "business_key": "SR-1", "title": "Refund SR-1",
		"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("10.00", "alipay")}
	if r := s.must(s.call("POST", "/v1/tickets", shop2, sub), http.StatusForbidden, "submit without the role"); r.str("code") != "missing-role" || !strings.Contains(r.str("detail"), "role system") {
		t.Fatalf("the refusal: %s", r.raw)
	}
	s.must(s.call("GET", "/v1/me", shop2, nil), http.StatusOK, "who am I, without the role")
	s.must(s.call("GET", "/v1/processes", shop2, nil), http.StatusForbidden, "read without the role")
	s.must(s.call("PUT", "/v1/principals/svc-shop2/roles/system", s.admin, nil), http.StatusOK, "grant system")
	id := s.must(s.call("POST", "/v1/tickets", shop2, sub), http.StatusCreated, "submit with the role").str("ticket_id")
	revoked := s.must(s.call("DELETE", "/v1/principals/svc-shop2/roles/system", s.admin, nil), http.StatusOK, "revoke system")
	s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+revoked.str("position"), shop2, nil), http.StatusForbidden, "track after the revocation")
	s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+revoked.str("position"), xiaoli, nil), http.StatusOK, "the ticket goes on for its approver")
}
