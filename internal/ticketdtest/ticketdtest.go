package ticketdtest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
	"github.com/ticketledger/ticketledger/scheduler"
)

// Server is a running in-process ticketd.
type Server struct {
	// URL is the base URL of the HTTP API, e.g. "http://127.0.0.1:41234".
	URL string
	// AdminToken is the bearer token of the bootstrapped admin.
	AdminToken string
	// DatabaseURL is the PostgreSQL database of the read models (and of the event store
	// unless EventstoreURL is set).
	DatabaseURL string
	// EventstoreURL is the EventStoreDB double's connection string; empty on pgstore.
	EventstoreURL string
	// Store is the server's event store, for tests that tamper with the log.
	Store eventstore.Store
}

// Options selects the stack Start builds.
type Options struct {
	// EventStoreDB runs the event store on the EventStoreDB protocol double instead of
	// pgstore.
	EventStoreDB bool
	// Relay runs the outcome relay (SQL transport) and serves the webhook operations.
	// Loopback receivers are allowed, and deliveries die after two attempts 100 ms
	// apart, so that tests see dead letters quickly.
	Relay bool
}

// Start builds the stack on a fresh database, bootstraps the first admin, serves the API
// and stops everything when tb ends. It fails tb on any error.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dbURL := pgtest.NewDatabase(tb)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		cancel()
		tb.Fatalf("ticketdtest: %v", err)
	}
	srv := &Server{DatabaseURL: dbURL}
	var counter projections.Counter
	if opts.EventStoreDB {
		srv.EventstoreURL = esdbtest.Start(tb).URL()
		s, err := esdb.Open(ctx, srv.EventstoreURL)
		if err != nil {
			cancel()
			pool.Close()
			tb.Fatalf("ticketdtest: %v", err)
		}
		srv.Store = s
	} else {
		s, err := pgstore.New(ctx, pool, pgstore.Config{})
		if err != nil {
			cancel()
			pool.Close()
			tb.Fatalf("ticketdtest: %v", err)
		}
		srv.Store, counter = s, projections.SequenceCounter{}
	}

	index := commands.NewPrincipalIndex(srv.Store, nil)
	defs := commands.NewProcessDefinitions(srv.Store, index.Directory).Following(index.ProcessStreamVersion)
	svc := commands.New(srv.Store, defs, commands.WithPrincipals(index.Get))
	auditLog := audit.New(srv.Store)
	rs := &api.ReadSide{Tickets: projections.NewTickets(pool), Workbench: projections.NewWorkbench(pool),
		Timeline: projections.NewTimeline(auditLog), Statistics: projections.NewStatistics(pool),
		Delegations: projections.NewDelegations(pool), Audit: auditLog}
	runner, err := projections.NewRunner(pool, srv.Store, projections.Config{Counter: counter},
		rs.Tickets, rs.Delegations, scheduler.NewReminders(pool))
	if err == nil {
		err = runner.Migrate(ctx)
	}
	if err != nil {
		cancel()
		srv.Store.Close()
		pool.Close()
		tb.Fatalf("ticketdtest: %v", err)
	}
	rs.Runner = runner

	workers := 2
	var (
		webhooks  *relay.Store
		transport *relay.SQLTransport
		r         *relay.Relay
		d         *relay.Dispatcher
	)
	relayPool := pool
	if opts.Relay {
		// The relay gets a pool of its own, large enough for its election lock, the
		// transport's subscriber and the dispatcher's workers (pgxpool's default is not).
		var pc *pgxpool.Config
		if pc, err = pgxpool.ParseConfig(dbURL); err == nil {
			pc.MaxConns = 16
			relayPool, err = pgxpool.NewWithConfig(ctx, pc)
		}
		policy := egress.Policy{Allow: egress.Loopback}
		if err == nil {
			webhooks, err = relay.NewStore(ctx, relayPool, relay.StoreConfig{Egress: policy})
		}
		if err == nil {
			transport, err = relay.NewSQLTransport(ctx, relayPool, relay.SQLTransportConfig{PollInterval: 20 * time.Millisecond})
		}
		if err == nil {
			r, err = relay.New(srv.Store, webhooks, transport, relay.RelayConfig{RetryDelay: 100 * time.Millisecond})
		}
		if err == nil {
			d, err = relay.NewDispatcher(webhooks, transport, relay.DispatcherConfig{Egress: policy, Jitter: -1,
				Schedule: []time.Duration{0, 100 * time.Millisecond}, PollInterval: 50 * time.Millisecond})
		}
		if err != nil {
			cancel()
			if transport != nil {
				_ = transport.Close()
			}
			if relayPool != nil && relayPool != pool {
				relayPool.Close()
			}
			srv.Store.Close()
			pool.Close()
			tb.Fatalf("ticketdtest: relay: %v", err)
		}
		workers += 2
	}

	done := make(chan struct{}, workers)
	go func() { _ = index.Run(ctx); done <- struct{}{} }()
	go func() { _ = runner.Run(ctx); done <- struct{}{} }()
	if opts.Relay {
		go func() { _ = r.Run(ctx); done <- struct{}{} }()
		go func() { _ = d.Run(ctx); done <- struct{}{} }()
	}
	var hs *httptest.Server
	tb.Cleanup(func() {
		if hs != nil {
			hs.Close()
		}
		cancel()
		for range workers {
			<-done
		}
		if transport != nil {
			_ = transport.Close()
		}
		if relayPool != pool {
			relayPool.Close()
		}
		srv.Store.Close()
		pool.Close()
	})

	boot, created, err := svc.Bootstrap(ctx, commands.Bootstrap{})
	if err != nil || !created {
		tb.Fatalf("ticketdtest: bootstrap: %v (created %v)", err, created)
	}
	if err := index.WaitFor(ctx, boot.Position); err != nil {
		tb.Fatalf("ticketdtest: %v", err)
	}
	reg := prometheus.NewRegistry()
	a, err := api.New(api.Config{Commands: svc, Definitions: defs, Principals: index, ReadSide: rs, Webhooks: webhooks, WaitTimeout: 10 * time.Second,
		Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	if err != nil {
		tb.Fatalf("ticketdtest: %v", err)
	}
	hs = httptest.NewServer(a)
	srv.URL, srv.AdminToken = hs.URL, boot.Secret
	return srv
}
