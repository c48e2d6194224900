package projections_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/projections"
)

func TestFieldVisibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.config(), e.standard()...)
	grantDelegations(t, e)
	ctx := context.Background()
	tickets := projections.NewTickets(e.pool)
	id := e.submit("order-1", "500.00", "bank_transfer").State.ID
	e.sync(projections.TicketsName, projections.DelegationsName)

	all := []string{"amount", "customer", "items", "order_id", "payee_account", "payee_name", "reason", "refund_method"}
	see := func(v projections.Viewer, access projections.Access, want []string) {
		t.Helper()
		st, err := tickets.AsSeenBy(ctx, id, v)
		if err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		got := slices.Sorted(maps.Keys(st.Fields))
		if st.Access != access || !slices.Equal(got, want) {
			t.Fatalf("%s sees %v as %s, want %v as %s", v.ID, got, st.Access, want, access)
		}
		if st.Shown != nil {
			for _, f := range got {
				if !slices.Contains(st.Shown, f) {
					t.Fatalf("%s got %s, not in %v", v.ID, f, st.Shown)
				}
			}
		}
	}
	hidden := func(v projections.Viewer) {
		t.Helper()
		if _, err := tickets.AsSeenBy(ctx, id, v); !domain.Is(err, domain.NotFound) {
			t.Fatalf("%+v: %v, want not found", v, err)
		}
	}
	business := []string{"amount", "customer", "items", "order_id", "reason", "refund_method"}
	finance := []string{"amount", "items", "order_id", "refund_method"}
	cashier := []string{"amount", "order_id", "payee_account", "payee_name", "refund_method"}

	see(projections.Viewer{ID: "cs1"}, projections.AccessHandler, business)
	see(projections.Viewer{ID: "amy"}, projections.AccessDelegate, business)
	hidden(projections.Viewer{ID: "fin1"})
	see(projections.Viewer{ID: "auditor", Privileged: true}, projections.AccessPrivileged, all)
	see(projections.Viewer{ID: "svc-shop", System: "shop"}, projections.AccessSystem, all)
	hidden(projections.Viewer{ID: "svc-crm", System: "crm"})
	see(projections.Viewer{ID: "wang"}, projections.AccessSubmitter, all)
	see(projections.Viewer{ID: "boss"}, projections.AccessCC, nil)
	hidden(projections.Viewer{ID: "eve"})
	if _, err := tickets.AsSeenBy(ctx, "no-such-ticket", projections.Viewer{ID: "auditor", Privileged: true}); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown ticket: %v", err)
	}

	e.approve(id, as("cs1"))
	e.sync(projections.TicketsName)
	see(projections.Viewer{ID: "fin1"}, projections.AccessHandler, finance)
	see(projections.Viewer{ID: "ben"}, projections.AccessDelegate, finance)
	hidden(projections.Viewer{ID: "dan"})
	hidden(projections.Viewer{ID: "amy"})
	see(projections.Viewer{ID: "cs1"}, projections.AccessHandler, business)
	hidden(projections.Viewer{ID: "cash1"})

	e.approve(id, asDelegate("ben", "fin1"))
	e.approve(id, as("fin2"))
	e.sync(projections.TicketsName)
	see(projections.Viewer{ID: "cash1"}, projections.AccessHandler, cashier)
	see(projections.Viewer{ID: "cash2"}, projections.AccessHandler, cashier)
	see(projections.Viewer{ID: "fin1"}, projections.AccessHandler, finance)
	see(projections.Viewer{ID: "ben"}, projections.AccessHandler, finance)
	hidden(projections.Viewer{ID: "cara"})

	e.approve(id, as("cash1"))
	e.sync(projections.TicketsName)
	k, err := tickets.Get(ctx, id)
	if err != nil || len(k.Handlers) != 1 || k.Handlers[0].Principal != "cash2" {
		t.Fatalf("handlers %+v, %v", k.Handlers, err)
	}
}
