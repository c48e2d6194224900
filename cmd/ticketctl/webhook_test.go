package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/internal/ticketdtest"
	"github.com/ticketledger/ticketledger/relay/webhook"
)

// hookReceiver is the shop's endpoint: it verifies signatures with its secret and records
// the webhook-ids it accepted.
type hookReceiver struct {
	srv     *httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	secret  webhook.Secret
	ids     []string
	tickets []string
	bad     []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify([]webhook.Secret{h.secret}, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			h.bad = append(h.bad, err.Error())
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var p struct {
			Data struct {
				TicketID string `json:"ticket_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		h.ids = append(h.ids, r.Header.Get("webhook-id"))
		h.tickets = append(h.tickets, p.Data.TicketID)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) setSecret(t *testing.T, s string) {
	t.Helper()
	sec, err := webhook.ParseSecret(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("secret %q: %v", s, err)
	}
	h.mu.Lock()
	h.secret = sec
	h.mu.Unlock()
}

func (h *hookReceiver) received(t *testing.T) ([]string, []string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Fatalf("the receiver refused requests: %v", h.bad)
	}
	return append([]string(nil), h.ids...), append([]string(nil), h.tickets...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWebhooks registers the shop's endpoint with ticketctl, lets an approval's webhook
// die at a failing receiver, shows its deliveries and attempts, redelivers the dead
// letters and, after a secret rotation, one delivery again, all over HTTP.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{Relay: true})
	env := envOf(s)
	rc := newHookReceiver(t)
	shop, xiaoli := setupRefund(t, env)
	fang := strings.TrimSpace(ctl(t, env, "token", "issue", "fang").want(t, 0).stdout)
	chen := strings.TrimSpace(ctl(t, env, "token", "issue", "chen").want(t, 0).stdout)

	ctl(t, env, "webhook", "register", "--system", "shop").want(t, 2, "--system and --url are required")
	reg := ctl(t, env, "webhook", "register", "--system", "shop", "--url", rc.srv.URL+"/hooks", "--outcome", "approved", "--process", "refund").
		want(t, 0, "registered endpoint", "the outcomes of system shop (outcomes: approved; processes: refund) go to "+rc.srv.URL+"/hooks", "shown this once", "whsec_")
	rc.setSecret(t, reg.stdout)
	endpoint := strings.Fields(strings.TrimPrefix(reg.stderr, "registered endpoint "))[0]
	endpoint = strings.TrimSuffix(endpoint, ":")
	ctl(t, env, "webhook", "list").want(t, 0, endpoint, "shop", "enabled", "approved", rc.srv.URL+"/hooks")
	ctl(t, env, "webhook", "show", endpoint).want(t, 0, "endpoint "+endpoint, "secret #1", "current")
	xenv := map[string]string{"TICKETLEDGER_SERVER": s.URL, "TICKETLEDGER_TOKEN": xiaoli}
	ctl(t, xenv, "webhook", "list").want(t, 1, "403")
	ctl(t, env, "webhook", "show", "not-an-id").want(t, 1, "400")
	ctl(t, env, "webhook", "register", "--system", "shop", "--url", "http://169.254.169.254/x").want(t, 1, "422", "internal address")

	rc.failing.Store(true)
	sub := map[string]any{"process": "refund", "business_key": "SO-42", "submitter": map[string]any{"id": "cust-1001"},
		"fields": refundFields("198.00", "bank_transfer")}
	id, _ := call(t, s, "POST", "/v1/tickets", shop, sub, http.StatusCreated)["ticket_id"].(string)
	for _, tok := range []string{xiaoli, fang, chen} {
		call(t, s, "POST", "/v1/tickets/"+id+"/approve", tok, map[string]any{}, http.StatusOK)
	}
	eventually(t, "a dead delivery", func() bool {
		return strings.Contains(ctl(t, env, "webhook", "deliveries", endpoint, "--state", "dead").want(t, 0).stdout, id)
	})
	ctl(t, env, "webhook", "attempts", "--ticket", id).want(t, 0, "outcome approved", "dead", "#1", "#2", "500")
	var dead struct {
		Deliveries []struct {
			WebhookID string `json:"webhook_id"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(ctl(t, env, "--json", "webhook", "deliveries", endpoint).want(t, 0).stdout), &dead); err != nil || len(dead.Deliveries) != 1 {
		t.Fatalf("deliveries as JSON: %v %+v", err, dead)
	}
	webhookID := dead.Deliveries[0].WebhookID

	rc.failing.Store(false)
	ctl(t, env, "webhook", "redeliver-dead", endpoint).want(t, 0, "redelivering 1 dead deliveries")
	eventually(t, "the redelivered webhook", func() bool { ids, _ := rc.received(t); return len(ids) == 1 })
	if ids, tickets := rc.received(t); ids[0] != webhookID || tickets[0] != id {
		t.Fatalf("received %v for %v, want %s for %s", ids, tickets, webhookID, id)
	}

	rot := ctl(t, env, "webhook", "rotate", endpoint, "--overlap", "1h").want(t, 0, "new secret", "whsec_")
	rc.setSecret(t, rot.stdout)
	ctl(t, env, "webhook", "show", endpoint).want(t, 0, "secret #2", "secret #1", "signs until")
	ctl(t, env, "webhook", "redeliver", webhookID).want(t, 0, "sent again with the same webhook-id")
	eventually(t, "the second redelivery", func() bool { ids, _ := rc.received(t); return len(ids) == 2 })
	if ids, _ := rc.received(t); ids[1] != webhookID {
		t.Fatalf("received %v, want %s twice", ids, webhookID)
	}
	eventually(t, "the fourth attempt recorded", func() bool {
		out := ctl(t, env, "webhook", "attempts", "--ticket", id).want(t, 0).stdout
		return strings.Contains(out, "delivered") && strings.Contains(out, "#4")
	})

	ctl(t, env, "webhook", "disable", endpoint, "--reason", "maintenance").want(t, 0, "disabled (maintenance)")
	ctl(t, env, "webhook", "enable", endpoint).want(t, 0, "enabled")
	ctl(t, env, "webhook", "delete", endpoint).want(t, 0, "deleted endpoint "+endpoint)
	ctl(t, env, "webhook", "show", endpoint).want(t, 1, "404")
	ctl(t, env, "webhook", "delete", endpoint).want(t, 1, "404")
}

// TestWebhookListen receives the approval's webhook with ticketctl's local receiver, which
// verifies its signature with the secret registration printed.
func TestWebhookListen(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{Relay: true})
	env := envOf(s)
	shop, xiaoli := setupRefund(t, env)
	fang := strings.TrimSpace(ctl(t, env, "token", "issue", "fang").want(t, 0).stdout)
	chen := strings.TrimSpace(ctl(t, env, "token", "issue", "chen").want(t, 0).stdout)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	reg := ctl(t, env, "webhook", "register", "--system", "shop", "--url", "http://"+addr+"/hooks", "--outcome", "approved").want(t, 0, "whsec_")
	secretFile := filepath.Join(t.TempDir(), "shop.secret")
	if err := os.WriteFile(secretFile, []byte(reg.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl(t, env, "webhook", "listen").want(t, 2, "--secret-file is required")

	listened := make(chan result, 1)
	go func() {
		listened <- ctl(t, env, "webhook", "listen", "--addr", addr, "--secret-file", secretFile, "--count", "1")
	}()
	sub := map[string]any{"process": "refund", "business_key": "SO-77", "submitter": map[string]any{"id": "cust-1001"},
		"fields": refundFields("198.00", "bank_transfer")}
	id, _ := call(t, s, "POST", "/v1/tickets", shop, sub, http.StatusCreated)["ticket_id"].(string)
	for _, tok := range []string{xiaoli, fang, chen} {
		call(t, s, "POST", "/v1/tickets/"+id+"/approve", tok, map[string]any{}, http.StatusOK)
	}
	select {
	case r := <-listened:
		r.want(t, 0, id, "approved", "signature verified", "SO-77")
	case <-time.After(60 * time.Second):
		t.Fatal("the local receiver got no webhook within a minute")
	}
}
