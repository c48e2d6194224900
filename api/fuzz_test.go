package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// fuzzRoutes are the operations the fuzzer sends bodies to.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/tickets"},
	{"POST", "/v1/tickets/TICKET/approve"},
	{"POST", "/v1/tickets/TICKET/return"},
	{"POST", "/v1/tickets/TICKET/resubmit"},
	{"POST", "/v1/tickets/TICKET/cc"},
	{"POST", "/v1/tickets/TICKET/transfer"},
	{"POST", "/v1/approvals"},
	{"POST", "/v1/delegations"},
	{"POST", "/v1/principals"},
	{"PATCH", "/v1/principals/admin"},
	{"POST", "/v1/definitions/validate"},
	{"POST", "/v1/definitions/simulate"},
	{"PUT", "/v1/processes/refund"},
}

// FuzzHandlers sends random bodies to the command and admin operations: the server never
// answers 500 (a panic would be one) and a refused request writes nothing to the log.
func FuzzHandlers(f *testing.F) {
	seeds := []string{`{}`, `null`, `[]`, `{"process":"refund","fields":{}}`, `{"process":"refund","submitter":{"id":"c"},"fields":{"amount":"1e999"}}`,
		`{"items":[{"ticket_id":"00000000-0000-0000-0000-000000000000"}]}`, `{"delegate":"x","until":"1970-01-01T00:00:00Z"}`,
		`{"id":"a","kind":"service"}`, `{"attributes":{"A":"b"}}`, `key: refund\nnodes: [{key: a}]`, `{"definition":{"key":"x"},"fields":{}}`,
		`{"changes":{"amount":null}}`, `{"users":[""]}`, "\x00\xff", `{"fields":{"items":[{"price":"-0.001"}]}}`}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s), i%2 == 0)
	}
	store, err := esdb.Open(context.Background(), esdbtest.Start(f).URL())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	s := start(f, store, "")
	s.publishExamples()
	s.principal("xiaoli", "user", "", "customer-service")
	s.principal("fang", "user", "", "finance")
	s.principal("chen", "user", "", "cashier")
	sub := s.must(s.call("POST", "/v1/tickets", s.admin, map[string]any{"process": "refund", "submitter": map[string]any{"id": "admin"},
		"fields": refundFields("198.00", "alipay")}), 201, "submit")
	ticketID := sub.str("ticket_id")
	f.Fuzz(func(t *testing.T, route uint8, body []byte, yaml bool) {
		s := *s
		s.t = t
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := rt.path
		if len(path) > 12 && path[:12] == "/v1/tickets/" {
			path = "/v1/tickets/" + ticketID + path[len("/v1/tickets/TICKET"):]
		}
		contentType := "application/json"
		if yaml {
			contentType = "application/yaml"
		}
		before := head(t, s.store)
		r := s.call(rt.method, path, s.admin, body, "Content-Type", contentType)
		if r.status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, body, r.status, r.raw)
		}
		if r.body == nil {
			t.Fatalf("%s %s %q: a body that is not a JSON object: %s", rt.method, path, body, r.raw)
		}
		if r.status >= 400 && head(t, s.store) != before {
			t.Fatalf("%s %s %q: refused with %d but the log moved", rt.method, path, body, r.status)
		}
	})
}

func head(t testing.TB, store eventstore.Store) eventstore.Position {
	evs, err := store.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("head: %v", err)
	}
	return evs[0].Position
}

// FuzzRequests sends random path parameters, query strings and bodies to every operation
// but those that lock principals out (DELETE, disable), on PostgreSQL with the read models
// running: the server never answers 5xx, every refusal is problem+json, and whatever a
// command accepts the read models can store (a read at its position answers 200; a read
// model stopped by text it cannot store would answer 500).
func FuzzRequests(f *testing.F) {
	dbURL := pgtest.NewDatabase(f)
	store, err := pgstore.Open(context.Background(), dbURL, pgstore.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	s := start(f, store, dbURL)
	shop, _, _, _ := s.refundCast()
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "F-1", "submitter": map[string]any{"id": "cust-1"},
		"fields": refundFields("198.00", "alipay")}), 201, "submit")
	ticketID := sub.str("ticket_id")
	var routes []api.Route
	for _, r := range s.server.Routes() {
		if r.Method != "DELETE" && !strings.HasSuffix(r.Pattern, "/disable") {
			routes = append(routes, r)
		}
	}
	index := func(method, pattern string) uint8 {
		for i, r := range routes {
			if r.Method == method && r.Pattern == pattern {
				return uint8(i)
			}
		}
		f.Fatalf("no route %s %s", method, pattern)
		return 0
	}
	seeds := []struct {
		method, pattern, param, query, body string
	}{
		{"POST", "/v1/tickets", "", "", `{"process":"refund","business_key":"F-2","title":"a\u0000b","submitter":{"id":"c"},"fields":{}}`},
		{"POST", "/v1/tickets", "", "", `{"process":"refund","business_key":"F-3","submitter":{"id":"c"},"fields":{"order_id":"SO-1","customer":"x\u0000","reason":"r","items":[{"sku":"a","name":"b","quantity":1,"price":"1.00"}],"amount":"1.00","refund_method":"alipay","payee_name":"p"}}`},
		{"POST", "/v1/tickets/{ticket_id}/comments", ticketID, "", `{"text":"\u0000"}`},
		{"POST", "/v1/tickets/{ticket_id}/urge", ticketID, "", `{"comment":"\\u0000 is text"}`},
		{"GET", "/v1/tickets/{ticket_id}", "a\x00b", "", ""},
		{"GET", "/v1/tickets/{ticket_id}/state", ticketID, "position=1/1", ""},
		{"GET", "/v1/tickets/{ticket_id}/state", "\x0e", "position=0/0", ""},
		{"GET", "/v1/tickets/{ticket_id}/deliveries", "\xff", "", ""},
		{"GET", "/v1/workbench/{list}", "pending", "q=%\x00&cursor=\x00", ""},
		{"GET", "/v1/workbench/{list}", "done", "status=zzz&limit=0", ""},
		{"GET", "/v1/statistics/{by}", "nodes", "from=yesterday", ""},
		{"POST", "/v1/principals/{principal_id}/handover", "admin", "after=a\x00", `{}`},
		{"PATCH", "/v1/principals/{principal_id}", "admin", "", `{"name":"A\u0000"}`},
		{"POST", "/v1/delegations", "", "", `{"delegate":"xiaoli","reason":"\u0000"}`},
		{"PUT", "/v1/processes/{key}", "refund", "", `{"key":"refund","name":"\u0000"}`},
	}
	for _, sd := range seeds {
		f.Add(index(sd.method, sd.pattern), sd.param, sd.query, []byte(sd.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, param, query string, body []byte) {
		s := *s
		s.t = t
		rt := routes[int(route)%len(routes)]
		path := rt.Pattern
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + url.PathEscape(param) + path[j+1:]
		}
		q, _ := url.ParseQuery(query)
		q.Del("min_position") // a position ahead of the log would only wait out the bound
		if enc := q.Encode(); enc != "" {
			path += "?" + enc
		}
		var b any
		if rt.Method != "GET" {
			b = body
		}
		r := s.call(rt.Method, path, s.admin, b)
		if r.status >= 500 && r.str("code") != "relay-off" { // this stack runs no relay
			t.Fatalf("%s %s %q: %d %s", rt.Method, path, body, r.status, r.raw)
		}
		if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: %d without problem+json: %s", rt.Method, path, r.status, r.raw)
		}
		if pos := r.str("position"); rt.Method != "GET" && r.status < 300 && pos != "" {
			// The tickets read model waits for the position; had it stopped, this is a 500.
			if rr := s.call("GET", "/v1/workbench?min_position="+url.QueryEscape(pos), s.admin, nil); rr.status != 200 {
				t.Fatalf("%s %s %q was accepted, then the read models answer %d: %s", rt.Method, path, body, rr.status, rr.raw)
			}
		}
	})
}
