package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
	"github.com/ticketledger/ticketledger/relay/webhook"
)

func TestLoopbackRefusedWithoutAllowList(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	strict, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/", "http://10.0.0.7/"} {
		_, _, err := strict.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: u})
		if !errors.Is(err, egress.ErrForbiddenAddress) || !domain.Is(err, domain.Invalid) {
			t.Errorf("register %s: %v, want an Invalid error wrapping ErrForbiddenAddress", u, err)
		}
	}
	if _, _, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: "http://127.0.0.1:9000/hook"}); err != nil {
		t.Fatalf("with the loopback allow-list: %v", err)
	}
	e, _, err := strict.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: "https://8.8.8.8/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.UpdateEndpoint(ctx, e.ID, relay.EndpointChange{URL: ptr("http://127.0.0.1/x")}); !errors.Is(err, egress.ErrForbiddenAddress) {
		t.Fatalf("update to loopback: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestEndpointLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, bad := range []relay.NewEndpoint{
		{URL: "http://127.0.0.1/x"},
		{System: "shop", URL: "ftp://127.0.0.1/x"},
		{System: "shop", URL: "http://127.0.0.1/x", Outcomes: []string{"approved", "maybe"}},
		{System: "shop", URL: "http://127.0.0.1/x", Processes: []string{" "}},
	} {
		if _, _, err := h.store.RegisterEndpoint(ctx, bad); !domain.Is(err, domain.Invalid) {
			t.Errorf("register %+v: %v, want Invalid", bad, err)
		}
	}
	e, secret, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{
		System: "shop", URL: "http://127.0.0.1:1/hook", Description: "refunds", Processes: []string{"expense"}, Outcomes: []string{relay.OutcomeApproved},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Enabled || !strings.HasPrefix(secret.Reveal(), "whsec_") || !e.Wants("shop", "expense", "approved") || e.Wants("shop", "expense", "rejected") || e.Wants("crm", "expense", "approved") {
		t.Fatalf("registered %+v", e)
	}
	got, err := h.store.Endpoint(ctx, e.ID)
	if err != nil || got.URL != e.URL || got.Description != "refunds" || len(got.Processes) != 1 {
		t.Fatalf("Endpoint = %+v, %v", got, err)
	}
	if _, err := h.store.Endpoint(ctx, uuid.New()); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown endpoint: %v", err)
	}
	imported, _ := webhook.NewSecret()
	other, s2, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{System: "crm", URL: "http://127.0.0.1:2/", Secret: imported, Disabled: true})
	if err != nil || !s2.Equal(imported) || other.Enabled {
		t.Fatalf("imported secret: %+v %v", other, err)
	}
	list, err := h.store.Endpoints(ctx, relay.EndpointQuery{System: "shop"})
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("Endpoints(shop) = %+v, %v", list, err)
	}
	if all, _ := h.store.Endpoints(ctx, relay.EndpointQuery{}); len(all) != 2 {
		t.Fatalf("%d endpoints, want 2", len(all))
	}

	changed, err := h.store.UpdateEndpoint(ctx, e.ID, relay.EndpointChange{Outcomes: &[]string{}, Description: ptr("all outcomes")})
	if err != nil || len(changed.Outcomes) != 0 || changed.Description != "all outcomes" || changed.URL != e.URL {
		t.Fatalf("update: %+v, %v", changed, err)
	}
	if _, err := h.store.UpdateEndpoint(ctx, uuid.New(), relay.EndpointChange{}); !domain.Is(err, domain.NotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	off, err := h.store.DisableEndpoint(ctx, e.ID, "")
	if err != nil || off.Enabled || off.DisabledReason == "" {
		t.Fatalf("disable: %+v, %v", off, err)
	}
	on, err := h.store.EnableEndpoint(ctx, e.ID)
	if err != nil || !on.Enabled || on.DisabledReason != "" {
		t.Fatalf("enable: %+v, %v", on, err)
	}
	if _, err := h.store.EnableEndpoint(ctx, uuid.New()); !domain.Is(err, domain.NotFound) {
		t.Fatalf("enable unknown: %v", err)
	}

	newer, err := h.store.RotateSecret(ctx, e.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := h.store.EndpointSecrets(ctx, e.ID)
	if err != nil || len(secrets) != 2 || !secrets[0].Secret.Equal(newer) || !secrets[1].Secret.Equal(secret) ||
		!secrets[0].ExpiresAt.IsZero() || secrets[1].ExpiresAt.IsZero() || secrets[0].Serial != 2 {
		t.Fatalf("secrets after rotation: %+v, %v", secrets, err)
	}
	if _, err := h.store.RotateSecret(ctx, e.ID, -1); err != nil {
		t.Fatal(err)
	}
	secrets, _ = h.store.EndpointSecrets(ctx, e.ID)
	if len(secrets) != 3 || secrets[1].ExpiresAt.After(time.Now()) {
		t.Fatalf("a rotation without overlap left the previous secret live: %+v", secrets)
	}
	if _, err := h.store.RotateSecret(ctx, uuid.New(), 0); !domain.Is(err, domain.NotFound) {
		t.Fatalf("rotate unknown: %v", err)
	}
	if _, err := h.store.EndpointSecrets(ctx, uuid.New()); !domain.Is(err, domain.NotFound) {
		t.Fatalf("secrets of unknown: %v", err)
	}
}

// TestRotationSignsWithBoth shows that during a rotation's overlap a receiver holding
// either secret verifies the request, and that after it only the new one does.
func TestRotationSignsWithBoth(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	ctx := context.Background()
	old, _ := h.store.EndpointSecrets(ctx, e.ID)
	newer, err := h.store.RotateSecret(ctx, e.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.start(h.sqlTransport(), fastDispatch())
	h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the outcome", func() bool { return len(rcv.all()) == 1 })
	got := rcv.all()[0]
	if n := len(strings.Fields(got.sig)); n != 2 {
		t.Fatalf("%d signatures during the overlap, want 2: %s", n, got.sig)
	}
	for _, s := range []string{old[0].Secret.Reveal(), newer.Reveal()} {
		wh, _ := standardwebhooks.NewWebhook(s)
		hdr := http.Header{}
		hdr.Set("webhook-id", got.id)
		hdr.Set("webhook-timestamp", got.ts)
		hdr.Set("webhook-signature", got.sig)
		if err := wh.Verify(got.body, hdr); err != nil {
			t.Fatalf("a receiver with one of the secrets rejects the request: %v", err)
		}
	}
}
