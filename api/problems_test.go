package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
)

// TestProblems checks the problem+json answers to bad input.
func TestProblems(t *testing.T) {
	store, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := start(t, store, "")
	s.publishExamples()
	shop := s.principal("svc-shop", "service", "shop", "system")
	xiaoli := s.principal("xiaoli", "user", "", "customer-service")
	valid := map[string]any{"process": "refund", "business_key": "K1", "submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}
	cases := []struct {
		name   string
		r      response
		status int
		code   string
		paths  []string
	}{
		{"malformed JSON", s.call("POST", "/v1/tickets", shop, `{"process": "refund",`), 400, "malformed-json", nil},
		{"malformed YAML", s.callType("PUT", "/v1/processes/refund", s.admin, []byte("key: [\n"), "application/yaml"), 400, "malformed-yaml", []string{"body"}},
		{"wrong content type", s.call("POST", "/v1/tickets", shop, `process=refund`, "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported-media-type", nil},
		{"too large", s.call("POST", "/v1/tickets", shop, `{"title":"`+strings.Repeat("x", 70<<10)+`"}`), 413, "body-too-large", nil},
		{"unknown process", s.call("POST", "/v1/tickets", shop, map[string]any{"process": "nope", "fields": map[string]any{}}), 404, "no-such-process", nil},
		{"invalid fields", s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "submitter": map[string]any{"id": "c1"}, "fields": map[string]any{"order_id": "so 1", "amount": "-1"}}),
			422, "", []string{"fields.order_id", "fields.amount", "fields.customer"}},
		{"schema violation", s.call("POST", "/v1/tickets", shop, map[string]any{"fields": map[string]any{}, "extra": 1}), 422, "invalid-request", []string{"process"}},
		{"no token", s.call("POST", "/v1/tickets", "", valid), 401, "no-token", nil},
		{"bad token", s.call("POST", "/v1/tickets", "tlk_forged", valid), 401, "invalid-token", nil},
		{"wrong role", s.callType("PUT", "/v1/processes/refund", xiaoli, []byte("key: refund\n"), "application/yaml"), 403, "missing-role", nil},
		{"invalid definition", s.callType("PUT", "/v1/processes/refund", s.admin, []byte("key: refund\nnodes: []\n"), "application/yaml"), 422, "invalid-definition", nil},
		{"unknown ticket", s.call("POST", "/v1/tickets/00000000-0000-0000-0000-000000000000/approve", xiaoli, nil), 404, "no-such-ticket", nil},
		{"bad parameter", s.call("GET", "/v1/processes?min_position=soon", xiaoli, nil), 400, "invalid-parameter", []string{"query.min_position"}},
		{"ticket id not a UUID", s.call("POST", "/v1/tickets/xyz/approve", xiaoli, nil), 400, "invalid-parameter", []string{"path.ticket_id"}},
		{"submitted ticket id not a UUID", s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "ticket_id": "urn:uuid:x", "fields": map[string]any{}}),
			422, "invalid-request", []string{"ticket_id"}},
		{"acting for no principal", s.call("GET", "/v1/me", xiaoli, nil, "X-On-Behalf-Of", "../../x y"), 400, "invalid-parameter", []string{"header.X-On-Behalf-Of"}},
		{"no route", s.call("GET", "/v1/nowhere", xiaoli, nil), 404, "no-such-route", nil},
		{"method", s.call("PATCH", "/v1/tickets", xiaoli, nil), 405, "method-not-allowed", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if r.status != tc.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d (%s), want %d problem+json: %s", r.status, r.header.Get("Content-Type"), tc.status, r.raw)
			}
			if tc.code != "" && (r.str("code") != tc.code || r.str("type") != "urn:ticketledger:problem:"+tc.code) {
				t.Fatalf("code %q type %q, want %q: %s", r.str("code"), r.str("type"), tc.code, r.raw)
			}
			if r.str("title") == "" || r.body["status"] != float64(tc.status) || r.str("instance") == "" || r.str("request_id") == "" {
				t.Fatalf("incomplete problem: %s", r.raw)
			}
			paths := errorPaths(r)
			for _, want := range tc.paths {
				if !slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(p, want) }) {
					t.Fatalf("no error at %s in %s", want, r.raw)
				}
			}
		})
	}
	if r := s.call("POST", "/v1/tickets", "", valid); r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("a 401 without WWW-Authenticate")
	}
	for path, want := range map[string]string{"/v1/tickets": "POST", "/v1/me": "GET, HEAD", "/v1/processes/refund": "GET, HEAD, PUT"} {
		if r := s.call("PATCH", path, xiaoli, nil); r.status != 405 || r.header.Get("Allow") != want {
			t.Errorf("PATCH %s: status %d, Allow %q, want 405 and %q", path, r.status, r.header.Get("Allow"), want)
		}
	}
	if r := s.call("HEAD", "/v1/me", xiaoli, nil); r.status != 200 || len(r.raw) != 0 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD /v1/me: status %d (%s), body %q", r.status, r.header.Get("Content-Type"), r.raw)
	}
	if r := s.call("HEAD", "/v1/me", "", nil); r.status != 401 || len(r.raw) != 0 {
		t.Errorf("HEAD /v1/me without a token: status %d, body %q", r.status, r.raw)
	}
}

// TestRoutesMatchDocument checks that every route of the router is an operation of the
// OpenAPI document and every operation of the document is routed.
func TestRoutesMatchDocument(t *testing.T) {
	store, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	full := start(t, store, pgtestDatabase(t))
	routed := map[string]bool{}
	for _, r := range full.server.Routes() {
		routed[r.Method+" "+r.Pattern] = true
	}
	documented := map[string]bool{}
	for path, item := range full.server.Spec().Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in the document", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("operation %s is not routed", k)
		}
	}
	if len(routed) < 50 {
		t.Errorf("only %d routes", len(routed))
	}
}

// TestDocumentUses30Keywords guards the validation view: requests are validated with
// kin-openapi's OpenAPI 3.0 schema validator, which is right only while the document uses
// no schema keyword that 3.1 (JSON Schema 2020-12) alone defines.
func TestDocumentUses30Keywords(t *testing.T) {
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	only31 := []string{"const", "$defs", "prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired",
		"dependentSchemas", "if", "then", "else", "contentEncoding", "contentMediaType", "contentSchema", "$dynamicRef", "examples"}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if slices.Contains(only31, k) && strings.Contains(path, "schema") {
					t.Errorf("%s.%s: a JSON Schema 2020-12 keyword the 3.0 validator would ignore", path, k)
				}
				if k == "type" {
					if _, isList := x.([]any); isList {
						t.Errorf("%s.type: a list of types is 3.1 only", path)
					}
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("", doc)
}

// TestReadProblems checks the answers to bad parameters of the read models' queries: a
// cursor that is not one and a status no list has are 400 naming the parameter; a
// ticket's state before it was submitted is 404.
func TestReadProblems(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL)
	shop, xiaoli, _, _ := s.refundCast()
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "RP-1", "title": "Refund RP-1",
		"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("10.00", "alipay")}), 201, "submit")
	id := sub.str("ticket_id")
	sub = s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "RP-2", "title": "Refund RP-2",
		"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("10.00", "alipay")}), 201, "submit another")
	page := s.must(s.call("GET", "/v1/workbench/pending?limit=1&min_position="+sub.str("position"), xiaoli, nil), 200, "a page of one")
	next := page.str("next")
	if next == "" {
		t.Fatalf("no next cursor: %s", page.raw)
	}
	s.must(s.call("GET", "/v1/workbench/pending?limit=1&cursor="+next, xiaoli, nil), 200, "the next page")
	cases := []struct {
		name, path, token string
		status            int
		code, at          string
	}{
		{"cursor", "/v1/workbench/pending?cursor=bm90LWEtY3Vyc29y", xiaoli, 400, "invalid-parameter", "query.cursor"},
		{"cursor of another list", "/v1/workbench/done?cursor=" + next, xiaoli, 400, "invalid-parameter", "query.cursor"},
		{"cursor holding a NUL", "/v1/workbench/pending?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"pending","t":"2026-01-01T00:00:00Z","k":"a\u0000b","s":"x"}`)),
			xiaoli, 400, "invalid-parameter", "query.cursor"},
		{"status", "/v1/workbench/pending?status=zzz", xiaoli, 400, "invalid-parameter", "query.status"},
		{"counts status", "/v1/workbench?status=zzz", xiaoli, 400, "invalid-parameter", "query.status"},
		{"state before", "/v1/tickets/" + id + "/state?at=2000-01-01T00:00:00Z", s.admin, 404, "not-yet-submitted", ""},
		{"state at position 0", "/v1/tickets/" + id + "/state?position=1/1", s.admin, 404, "not-yet-submitted", ""},
	}
	for _, tc := range cases {
		r := s.call("GET", tc.path, tc.token, nil)
		if r.status != tc.status || r.str("code") != tc.code {
			t.Errorf("%s: status %d code %q, want %d %q: %s", tc.name, r.status, r.str("code"), tc.status, tc.code, r.raw)
			continue
		}
		if tc.at != "" && !slices.Contains(errorPaths(r), tc.at) {
			t.Errorf("%s: no error at %s: %s", tc.name, tc.at, r.raw)
		}
	}
	s.must(s.call("GET", "/v1/workbench/pending?status=pending&min_position="+sub.str("position"), xiaoli, nil), 200, "a known status")
}
