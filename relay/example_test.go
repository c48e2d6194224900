package relay_test

import (
	"context"
	"log"
	"net/netip"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
)

// Example wires the relay as ticketd would: one PostgreSQL database for the events, the
// relay's tables and the SQL transport; an egress policy shared by registration and
// dispatch (here opening a private network for on-premises business systems).
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://ticketledger@127.0.0.1:5432/ticketledger")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	events, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	policy := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	store, err := relay.NewStore(ctx, pool, relay.StoreConfig{Egress: policy})
	if err != nil {
		log.Fatal(err)
	}
	transport, err := relay.NewSQLTransport(ctx, pool, relay.SQLTransportConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer transport.Close()
	r, err := relay.New(events, store, transport, relay.RelayConfig{})
	if err != nil {
		log.Fatal(err)
	}
	d, err := relay.NewDispatcher(store, transport, relay.DispatcherConfig{Egress: policy})
	if err != nil {
		log.Fatal(err)
	}
	endpoint, secret, err := store.RegisterEndpoint(ctx, relay.NewEndpoint{
		System: "shop", URL: "https://shop.example.com/hooks/tickets", Outcomes: []string{relay.OutcomeApproved},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("endpoint %s: give the shop its secret %s", endpoint.ID, secret.Reveal())
	go func() { _ = r.Run(ctx) }()
	_ = d.Run(ctx)
}
