package api_test

import (
	"context"
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
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
