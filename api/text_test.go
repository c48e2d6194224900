package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// errorPaths returns the paths of a problem's field errors.
func errorPaths(r response) []string {
	var paths []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		p, _ := m["path"].(string)
		paths = append(paths, p)
	}
	return paths
}

// TestTextThatCannotBeStored sends the NUL character and bytes that are not UTF-8 where
// text goes in: each is refused and named, nothing of it reaches the log, and the read
// models, which could not store it, go on.
func TestTextThatCannotBeStored(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, _, _ := s.refundCast()
		submission := func(key string, edit func(map[string]any)) map[string]any {
			sub := map[string]any{"process": "refund", "business_key": key, "title": "Refund " + key,
				"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "alipay")}
			edit(sub)
			return sub
		}
		refused := []struct {
			name   string
			r      response
			status int
			code   string
			path   string
		}{
			{"title", s.call("POST", "/v1/tickets", shop, submission("K1", func(m map[string]any) { m["title"] = "a\x00b" })),
				422, "invalid-request", "title"},
			{"field value", s.call("POST", "/v1/tickets", shop, submission("K2", func(m map[string]any) { m["fields"].(map[string]any)["reason"] = "wrong\x00size" })),
				422, "invalid-request", "fields.reason"},
			{"value in a table", s.call("POST", "/v1/tickets", shop, submission("K3", func(m map[string]any) {
				m["fields"].(map[string]any)["items"] = []map[string]any{{"sku": "TS\x00", "name": "T-shirt", "quantity": 1, "price": "1.00"}}
			})), 422, "invalid-request", "fields.items.0.sku"},
			{"key", s.call("POST", "/v1/tickets", shop, `{"process":"refund","business_key":"K4","submitter":{"id":"c"},"fields":{"a\u0000":"x"}}`),
				422, "invalid-request", "fields"},
			{"path", s.call("GET", "/v1/tickets/a%00b", xiaoli, nil), 400, "invalid-parameter", "path.ticket_id"},
			{"path with a control character", s.call("GET", "/v1/tickets/a%0Eb/state?position=0/0", s.admin, nil), 400, "invalid-parameter", "path.ticket_id"},
			{"path not UTF-8", s.call("GET", "/v1/tickets/a%FFb/history", s.admin, nil), 400, "invalid-parameter", "path.ticket_id"},
			{"query", s.call("GET", "/v1/workbench/pending?q=%25%00", xiaoli, nil), 400, "invalid-parameter", "query.q"},
			{"query not UTF-8", s.call("GET", "/v1/workbench/pending?q=%C3", xiaoli, nil), 400, "invalid-parameter", "query.q"},
			{"definition", s.callType("PUT", "/v1/processes/nul", s.admin, []byte("key: nul\nname: \"a\\0b\"\n"), "application/yaml"),
				422, "invalid-definition", "name"},
		}
		for _, tc := range refused {
			r := tc.r
			if r.status != tc.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: status %d (%s), want %d problem+json: %s", tc.name, r.status, r.header.Get("Content-Type"), tc.status, r.raw)
			}
			if tc.code != "" && r.str("code") != tc.code {
				t.Fatalf("%s: code %q, want %q: %s", tc.name, r.str("code"), tc.code, r.raw)
			}
			if !slices.Contains(errorPaths(r), tc.path) {
				t.Fatalf("%s: no error at %s: %s", tc.name, tc.path, r.raw)
			}
		}

		// A backslash written before "u0000" is text, not a NUL.
		ok := s.must(s.call("POST", "/v1/tickets", shop, `{"process":"refund","business_key":"K5","title":"C:\\u0000 and \\\\u0000",`+
			`"submitter":{"id":"cust-1001"},"fields":{"order_id":"SO-1","customer":"Zhang San","reason":"wrong size",`+
			`"items":[{"sku":"TS-42-L","name":"T-shirt","quantity":1,"price":"1.00"}],"amount":"1.00","refund_method":"alipay","payee_name":"Zhang San"}}`),
			http.StatusCreated, "a title with an escaped backslash")
		id := ok.str("ticket_id")
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{"comment": "fine\x00"}), http.StatusUnprocessableEntity, "a comment with a NUL")
		approved := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{"comment": "fine"}), http.StatusOK, "approve")

		history := s.must(s.call("GET", "/v1/tickets/"+id+"/history", s.admin, nil), http.StatusOK, "history")
		if strings.ContainsRune(fmt.Sprint(history.body), 0) {
			t.Fatalf("a NUL reached the log: %s", history.raw)
		}
		seen := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+approved.str("position"), s.admin, nil), http.StatusOK, "the read model")
		if seen.str("title") != `C:\u0000 and \\u0000` {
			t.Fatalf("title %q", seen.str("title"))
		}
		s.must(s.call("GET", "/readyz", "", nil), http.StatusOK, "readyz")
	})
}
