package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
	"github.com/ticketledger/ticketledger/relay/webhook"
)

// withRelay runs the outcome relay as ticketd wires it (SQL transport on the read side's
// database), with loopback allowed and a short retry schedule (two attempts, then dead),
// and gives its store to the API.
func withRelay(t *testing.T, events eventstore.Store, dbURL string) func(*api.Config) {
	return func(cfg *api.Config) {
		ctx, cancel := context.WithCancel(context.Background())
		pool := pgtestPool(t, dbURL)
		policy := egress.Policy{Allow: egress.Loopback}
		store, err := relay.NewStore(ctx, pool, relay.StoreConfig{Egress: policy})
		if err != nil {
			t.Fatal(err)
		}
		transport, err := relay.NewSQLTransport(ctx, pool, relay.SQLTransportConfig{PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r, err := relay.New(events, store, transport, relay.RelayConfig{RetryDelay: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d, err := relay.NewDispatcher(store, transport, relay.DispatcherConfig{Egress: policy, Jitter: -1,
			Schedule: []time.Duration{0, 100 * time.Millisecond}, PollInterval: 50 * time.Millisecond, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			wg.Wait()
			_ = transport.Close()
		})
		cfg.Webhooks, cfg.Relay = store, r
	}
}

// receiver is a business system's webhook endpoint: it verifies each request's signature
// with the secrets it was given and records what it received.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	failing atomic.Bool

	mu       sync.Mutex
	secrets  []webhook.Secret
	received []received
	bad      []string
}

type received struct {
	id      string
	payload relay.Payload
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rc.failing.Load() {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := webhook.Verify(rc.secrets, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			rc.bad = append(rc.bad, err.Error())
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var p relay.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			rc.bad = append(rc.bad, err.Error())
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		rc.received = append(rc.received, received{id: r.Header.Get("webhook-id"), payload: p})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecrets(s ...webhook.Secret) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets = s
}

// got returns what arrived so far, and fails the test on a request that did not verify.
func (rc *receiver) got() []received {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Fatalf("the receiver refused requests: %v", rc.bad)
	}
	return append([]received(nil), rc.received...)
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func list(r response, key string) []map[string]any {
	xs, _ := r.body[key].([]any)
	out := make([]map[string]any, 0, len(xs))
	for _, x := range xs {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out
}

// approveAll submits a refund as the shop and approves it through its three nodes.
func (s *stack) approveAll(shop, key string, approvers ...string) string {
	s.t.Helper()
	sub := map[string]any{"process": "refund", "business_key": key, "title": "Refund " + key,
		"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}
	id := s.must(s.call("POST", "/v1/tickets", shop, sub), http.StatusCreated, "submit "+key).str("ticket_id")
	var last response
	for _, a := range approvers {
		last = s.must(s.call("POST", "/v1/tickets/"+id+"/approve", a, map[string]any{"comment": "ok"}), http.StatusOK, "approve "+key)
	}
	if last.str("status") != "approved" {
		s.t.Fatalf("after the approvals: %s", last.raw)
	}
	return id
}

// TestWebhookDelivery runs the relay under the API: the shop's endpoint is registered,
// a refund is approved through its three nodes, the shop receives exactly one signed
// webhook and reports the payout naming its webhook-id; deliveries and attempts show
// through the API; a failing receiver's dead-lettered delivery is redelivered with the
// same webhook-id, and a delivered one is sent again after a secret rotation.
func TestWebhookDelivery(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			events, dbURL := k.open(t)
			s := start(t, events, dbURL, withRelay(t, events, dbURL))
			rc := newReceiver(t)
			s.publishExamples()
			shop := s.principal("svc-shop", "service", "shop", "system")
			xiaoli := s.principal("xiaoli", "user", "", "customer-service", "approver")
			fang := s.principal("fang", "user", "", "finance", "approver")
			chen := s.principal("chen", "user", "", "cashier", "approver")
			bob := s.principal("bob", "user", "", "approver")

			reg := map[string]any{"system": "shop", "url": rc.srv.URL + "/hooks/tickets", "outcomes": []string{"approved"}}
			s.must(s.call("POST", "/v1/webhooks", bob, reg), http.StatusForbidden, "a user registers")
			s.must(s.call("POST", "/v1/webhooks", shop, map[string]any{"system": "crm", "url": rc.srv.URL}), http.StatusForbidden, "the shop registers for the CRM")
			created := s.must(s.call("POST", "/v1/webhooks", s.admin, reg), http.StatusCreated, "register")
			endpointID := created.str("id")
			secret, err := webhook.ParseSecret(created.str("secret"))
			if err != nil || !strings.HasPrefix(created.str("secret"), "whsec_") {
				t.Fatalf("registration: %v: %s", err, created.raw)
			}
			rc.setSecrets(secret)
			shown := s.must(s.call("GET", "/v1/webhooks/"+endpointID, shop, nil), http.StatusOK, "the shop reads its endpoint")
			if shown.str("secret") != "" || len(list(shown, "secrets")) != 1 {
				t.Fatalf("an endpoint read back: %s", shown.raw)
			}
			if eps := list(s.must(s.call("GET", "/v1/webhooks", shop, nil), http.StatusOK, "list"), "endpoints"); len(eps) != 1 {
				t.Fatalf("the shop lists %v", eps)
			}
			s.must(s.call("GET", "/v1/webhooks/"+endpointID, bob, nil), http.StatusForbidden, "a user reads an endpoint")

			id := s.approveAll(shop, "SO-42", xiaoli, fang, chen)
			waitFor(t, "the approval's webhook", func() bool { return len(rc.got()) >= 1 })
			first := rc.got()[0]
			if first.payload.Type != "ticket.approved" || first.payload.Data.TicketID != id || first.payload.Data.Outcome != relay.OutcomeApproved ||
				first.payload.Data.BusinessKey != "SO-42" {
				t.Fatalf("the webhook: %+v", first)
			}
			reported := s.must(s.call("POST", "/v1/tickets/"+id+"/execution", shop, map[string]any{"status": "succeeded", "detail": "paid 198.00 CNY"},
				"X-Causation-Id", first.id), http.StatusOK, "report the payout")

			// Given the report's position, the first read already shows it, linked to
			// the webhook it answers.
			own := s.must(s.call("GET", "/v1/tickets/"+id+"/deliveries?min_position="+reported.str("position"), shop, nil),
				http.StatusOK, "the deliveries after the report")
			if os := list(own, "outcomes"); len(os) != 1 || os[0]["outcome"] != "approved" {
				t.Fatalf("the outcomes read at the report's position: %s", own.raw)
			} else if ex, _ := os[0]["execution"].(map[string]any); ex == nil || ex["status"] != "succeeded" || ex["webhook_id"] != first.id {
				t.Fatalf("the report read at its position: %s", own.raw)
			}
			s.must(s.call("GET", "/v1/tickets/"+id+"/deliveries?min_position=x", shop, nil), http.StatusBadRequest, "a malformed min_position")

			var dl response
			waitFor(t, "the report linked to the delivery", func() bool {
				dl = s.must(s.call("GET", "/v1/tickets/"+id+"/deliveries", shop, nil), http.StatusOK, "the ticket's deliveries")
				os := list(dl, "outcomes")
				ex, _ := func() (map[string]any, bool) {
					if len(os) != 1 {
						return nil, false
					}
					m, ok := os[0]["execution"].(map[string]any)
					return m, ok
				}()
				ds := list(dl, "deliveries")
				return ex != nil && ex["webhook_id"] == first.id && ex["status"] == "succeeded" && len(ds) == 1 && ds[0]["state"] == "delivered"
			})
			ds := list(dl, "deliveries")
			if len(ds) != 1 || ds[0]["webhook_id"] != first.id || ds[0]["state"] != "delivered" {
				t.Fatalf("the ticket's deliveries: %s", dl.raw)
			}
			if as, _ := ds[0]["attempts"].([]any); len(as) != 1 || as[0].(map[string]any)["status"] != 204.0 {
				t.Fatalf("the attempts: %s", dl.raw)
			}
			s.must(s.call("GET", "/v1/tickets/"+id+"/deliveries", bob, nil), http.StatusForbidden, "a user reads deliveries")
			if n := len(rc.got()); n != 1 {
				t.Fatalf("%d webhooks for one approval", n)
			}

			// A receiver that fails: the delivery dies after the short schedule, then the
			// fixed receiver gets it again with the same webhook-id.
			rc.failing.Store(true)
			id2 := s.approveAll(shop, "SO-43", xiaoli, fang, chen)
			var dead []map[string]any
			waitFor(t, "a dead delivery", func() bool {
				dead = list(s.must(s.call("GET", "/v1/webhooks/"+endpointID+"/deliveries?state=dead", shop, nil), http.StatusOK, "dead"), "deliveries")
				return len(dead) == 1
			})
			if as, _ := dead[0]["attempts"].([]any); dead[0]["ticket_id"] != id2 || len(as) != 2 || as[0].(map[string]any)["status"] != 500.0 {
				t.Fatalf("the dead delivery: %v", dead[0])
			}
			rc.failing.Store(false)
			rd := s.must(s.call("POST", "/v1/webhooks/"+endpointID+"/redeliver-dead", shop, nil), http.StatusOK, "redeliver dead")
			if rd.body["redelivered"] != 1.0 {
				t.Fatalf("redeliver-dead: %s", rd.raw)
			}
			waitFor(t, "the redelivered webhook", func() bool { return len(rc.got()) == 2 })
			if got := rc.got()[1]; got.id != dead[0]["webhook_id"] || got.payload.Data.TicketID != id2 {
				t.Fatalf("the redelivery: %+v, want webhook-id %v", got, dead[0]["webhook_id"])
			}

			// Rotation: the new secret alone verifies the next request.
			rot := s.must(s.call("POST", "/v1/webhooks/"+endpointID+"/rotate", shop, map[string]any{"overlap": "1h"}), http.StatusOK, "rotate")
			fresh, err := webhook.ParseSecret(rot.str("secret"))
			if err != nil || fresh.Equal(secret) {
				t.Fatalf("rotation: %v: %s", err, rot.raw)
			}
			rc.setSecrets(fresh)
			again := s.must(s.call("POST", "/v1/deliveries/"+first.id+"/redeliver", s.admin, nil), http.StatusOK, "redeliver")
			if again.str("state") != "pending" && again.str("state") != "delivered" {
				t.Fatalf("redeliver: %s", again.raw)
			}
			waitFor(t, "the redelivered approval", func() bool { return len(rc.got()) == 3 })
			if got := rc.got()[2]; got.id != first.id {
				t.Fatalf("the redelivery carries webhook-id %s, want %s", got.id, first.id)
			}
			s.must(s.call("POST", "/v1/deliveries/"+first.id+"/redeliver", bob, nil), http.StatusForbidden, "a user redelivers")

			dis := s.must(s.call("POST", "/v1/webhooks/"+endpointID+"/disable", shop, map[string]any{"reason": "maintenance"}), http.StatusOK, "disable")
			if dis.body["enabled"] != false || dis.str("disabled_reason") != "maintenance" {
				t.Fatalf("disable: %s", dis.raw)
			}
			if en := s.must(s.call("POST", "/v1/webhooks/"+endpointID+"/enable", s.admin, nil), http.StatusOK, "enable"); en.body["enabled"] != true {
				t.Fatalf("enable: %s", en.raw)
			}
			ch := s.must(s.call("PATCH", "/v1/webhooks/"+endpointID, shop, map[string]any{"processes": []string{"refund"}}), http.StatusOK, "change")
			if ps, _ := ch.body["processes"].([]any); len(ps) != 1 || ch.str("url") != rc.srv.URL+"/hooks/tickets" {
				t.Fatalf("change: %s", ch.raw)
			}

			s.must(s.call("DELETE", "/v1/webhooks/"+endpointID, bob, nil), http.StatusForbidden, "a user deletes")
			if r := s.call("DELETE", "/v1/webhooks/"+endpointID, shop, nil); r.status != http.StatusNoContent || len(r.raw) != 0 {
				t.Fatalf("delete: %d %s", r.status, r.raw)
			}
			s.must(s.call("GET", "/v1/webhooks/"+endpointID, shop, nil), http.StatusNotFound, "the deleted endpoint")
			if left := s.must(s.call("GET", "/v1/tickets/"+id+"/deliveries", shop, nil), http.StatusOK, "the ticket's deliveries after the delete"); len(list(left, "deliveries")) != 0 {
				t.Fatalf("a delivery of the deleted endpoint is left: %s", left.raw)
			}
			s.must(s.call("DELETE", "/v1/webhooks/"+endpointID, shop, nil), http.StatusNotFound, "delete again")
		})
	}
}

// TestWebhookRefusals checks the webhook operations' refusals: a loopback URL without
// the allow-list, bad input, other systems' endpoints, users without a role, and a server
// without the relay.
func TestWebhookRefusals(t *testing.T) {
	events, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Close() })
	dbURL := pgtestDatabase(t)
	s := start(t, events, dbURL, func(cfg *api.Config) {
		store, err := relay.NewStore(context.Background(), pgtestPool(t, dbURL), relay.StoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Webhooks = store
	})
	shop := s.principal("svc-shop", "service", "shop", "system")
	crm := s.principal("svc-crm", "service", "crm", "system")
	bob := s.principal("bob", "user", "", "approver")
	audrey := s.principal("audrey", "user", "", "auditor")

	for _, u := range []string{"http://127.0.0.1:9/hook", "http://[::1]/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest"} {
		r := s.must(s.call("POST", "/v1/webhooks", s.admin, map[string]any{"system": "shop", "url": u}), http.StatusUnprocessableEntity, "register "+u)
		if r.str("code") != "forbidden-address" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s: %s", u, r.raw)
		}
	}
	s.must(s.call("POST", "/v1/webhooks", s.admin, map[string]any{"system": "shop", "url": "ftp://93.184.216.34/x"}), http.StatusUnprocessableEntity, "an ftp URL")
	s.must(s.call("POST", "/v1/webhooks", s.admin, map[string]any{"system": "shop", "url": "https://93.184.216.34/x", "outcomes": []string{"paid"}}),
		http.StatusUnprocessableEntity, "an unknown outcome")
	s.must(s.call("POST", "/v1/webhooks", s.admin, map[string]any{"url": "https://93.184.216.34/x"}), http.StatusUnprocessableEntity, "no system")
	s.must(s.call("POST", "/v1/webhooks", bob, map[string]any{"system": "shop", "url": "https://93.184.216.34/x"}), http.StatusForbidden, "a user")
	s.must(s.call("POST", "/v1/webhooks", audrey, map[string]any{"system": "shop", "url": "https://93.184.216.34/x"}), http.StatusForbidden, "an auditor")

	created := s.must(s.call("POST", "/v1/webhooks", shop, map[string]any{"system": "shop", "url": "https://93.184.216.34/hook"}), http.StatusCreated, "the shop registers")
	id := created.str("id")
	s.must(s.call("GET", "/v1/webhooks/"+id, crm, nil), http.StatusNotFound, "the CRM reads the shop's endpoint")
	s.must(s.call("POST", "/v1/webhooks/"+id+"/rotate", crm, nil), http.StatusNotFound, "the CRM rotates the shop's secret")
	s.must(s.call("GET", "/v1/webhooks?system=shop", crm, nil), http.StatusForbidden, "the CRM lists the shop's endpoints")
	if eps := list(s.must(s.call("GET", "/v1/webhooks", crm, nil), http.StatusOK, "the CRM lists"), "endpoints"); len(eps) != 0 {
		t.Fatalf("the CRM sees %v", eps)
	}
	s.must(s.call("GET", "/v1/webhooks/"+id, audrey, nil), http.StatusOK, "an auditor reads")
	s.must(s.call("POST", "/v1/webhooks/"+id+"/disable", audrey, nil), http.StatusForbidden, "an auditor disables")
	s.must(s.call("GET", "/v1/webhooks", bob, nil), http.StatusForbidden, "a user lists")
	s.must(s.call("PATCH", "/v1/webhooks/"+id, s.admin, map[string]any{"url": "http://127.0.0.1/x"}), http.StatusUnprocessableEntity, "a loopback URL by change")
	s.must(s.call("POST", "/v1/webhooks/"+id+"/rotate", s.admin, map[string]any{"overlap": "forever"}), http.StatusUnprocessableEntity, "a bad overlap")
	s.must(s.call("GET", "/v1/webhooks/not-a-uuid", s.admin, nil), http.StatusBadRequest, "a bad id")
	s.must(s.call("GET", fmt.Sprintf("/v1/webhooks/%s", "6f1c0d2e-1111-4222-8333-944455556666"), s.admin, nil), http.StatusNotFound, "an unknown endpoint")
	s.must(s.call("POST", "/v1/deliveries/6f1c0d2e-1111-4222-8333-944455556666/redeliver", s.admin, nil), http.StatusNotFound, "an unknown delivery")
	s.must(s.call("GET", "/v1/webhooks/"+id+"/deliveries?state=lost", s.admin, nil), http.StatusBadRequest, "an unknown state")

	bare, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	off := start(t, bare, "")
	r := off.must(off.call("GET", "/v1/webhooks", off.admin, nil), http.StatusServiceUnavailable, "without the relay")
	if r.str("code") != "relay-off" || r.header.Get("Retry-After") != "" {
		t.Fatalf("without the relay: %s", r.raw)
	}
}
