package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/dbconn"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
	"github.com/ticketledger/ticketledger/scheduler"
)

// run starts ticketd and serves until ctx ends, then shuts down gracefully: the listener
// closes, in-flight requests finish (within the shutdown timeout), then the background
// workers stop. Logs and the first admin token go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	slog.SetDefault(logger)
	if cfg.pprofAddr != "" {
		stop, err := serveProfiler(cfg.pprofAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	if cfg.embedded {
		if err := ensureDatabase(ctx, cfg.databaseURL); err != nil {
			return err
		}
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	if !strings.Contains(cfg.databaseURL, "pool_max_conns") && poolCfg.MaxConns < minPoolConns {
		poolCfg.MaxConns = minPoolConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return dbconn.Error(cfg.databaseURL, "--database-url or DATABASE_URL", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	storeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketledger_store_errors_total",
		Help: "Event-store calls that failed, by operation (conflicts and missing streams excluded)."}, []string{"op"})
	storeLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ticketledger_store_duration_seconds",
		Help:    "Latency of the event-store calls commands make, by operation: an append lasts until the log has its events durably, and is most of a command's time under load.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"op"})
	reg.MustRegister(storeErrors, storeLatency)

	var (
		base    eventstore.Store
		counter projections.Counter
		// The projector reads and writes through a pool of its own when the log is in
		// PostgreSQL, so that it does not queue behind the API's requests for connections.
		projPool = pool
		projBase eventstore.Store
		// svcOpts: the state cache needs a store that reports duplicate appends (pgstore).
		svcOpts []commands.Option
	)
	switch {
	case cfg.eventstoreURL != "" && !isPostgresURL(cfg.eventstoreURL):
		s, err := esdb.Open(ctx, cfg.eventstoreURL, esdb.WithLogger(logger))
		if err != nil {
			return fmt.Errorf("EventStoreDB at %s: %w", dbconn.Redact(cfg.eventstoreURL), err)
		}
		base = s
		logger.Info("event store: EventStoreDB", "url", dbconn.Redact(cfg.eventstoreURL))
	case cfg.eventstoreURL != "":
		// The log in a PostgreSQL of its own: read-model transactions no longer hold
		// back the log's visibility horizon, which is per cluster.
		s, err := pgstore.Open(ctx, cfg.eventstoreURL, pgstore.Config{})
		if err != nil {
			return dbconn.Error(cfg.eventstoreURL, "--eventstore-url or EVENTSTORE_URL", err)
		}
		base, counter = s, projections.SequenceCounter{}
		svcOpts = append(svcOpts, commands.WithStateCache(commands.DefaultStateCacheSize))
		logger.Info("event store: PostgreSQL", "url", dbconn.Redact(cfg.eventstoreURL))
		if cfg.has(roleProjector) {
			if projPool, err = projectorPool(ctx, poolCfg); err != nil {
				return err
			}
			defer projPool.Close()
			ps, err := pgstore.Open(ctx, cfg.eventstoreURL, pgstore.Config{})
			if err != nil {
				return dbconn.Error(cfg.eventstoreURL, "--eventstore-url or EVENTSTORE_URL", err)
			}
			defer ps.Close()
			projBase = ps
		}
	default:
		s, err := pgstore.New(ctx, pool, pgstore.Config{})
		if err != nil {
			return fmt.Errorf("PostgreSQL event store: %w", err)
		}
		base, counter = s, projections.SequenceCounter{}
		svcOpts = append(svcOpts, commands.WithStateCache(commands.DefaultStateCacheSize))
		logger.Info("event store: PostgreSQL", "url", dbconn.Redact(cfg.databaseURL))
		if cfg.has(roleProjector) {
			if projPool, err = projectorPool(ctx, poolCfg); err != nil {
				return err
			}
			defer projPool.Close()
			ps, err := pgstore.New(ctx, projPool, pgstore.Config{})
			if err != nil {
				return fmt.Errorf("PostgreSQL event store: %w", err)
			}
			defer ps.Close()
			projBase = ps
		}
	}
	defer base.Close()
	store := &countingStore{Store: base, errors: storeErrors, latency: storeLatency}
	if ps, ok := base.(*pgstore.Store); ok {
		reg.MustRegister(groupCollector{ps})
	}
	projStore := store
	if projBase != nil {
		projStore = &countingStore{Store: projBase, errors: storeErrors}
	}
	// The process's followers of the log (the principal index, the process definitions,
	// the relay) subscribe through the projector's store when it has one: a PostgreSQL
	// store reads the log once for all the subscriptions it serves (its feed), so that
	// the log is read once, not once per store.
	follow := projStore

	index := commands.NewPrincipalIndex(follow, logger)
	defs := commands.NewProcessDefinitions(follow, index.Directory).Following(index.ProcessStreamVersion)
	svc := commands.New(store, defs, append(svcOpts, commands.WithPrincipals(index.Get))...)

	// The API's queries of the read models have a pool of their own, so that a query, a
	// read-your-writes one especially, does not queue behind the commands for a connection.
	readPool := pool
	if cfg.has(roleAPI) {
		if readPool, err = ownPool(ctx, poolCfg, readPoolConns); err != nil {
			return err
		}
		defer readPool.Close()
	}
	auditLog := audit.New(store)
	rs := &api.ReadSide{Tickets: projections.NewTickets(readPool), Workbench: projections.NewWorkbench(readPool),
		Timeline: projections.NewTimeline(auditLog), Statistics: projections.NewStatistics(readPool),
		Delegations: projections.NewDelegations(readPool), Audit: auditLog}
	reminders := scheduler.NewReminders(pool)
	runner, err := projections.NewRunner(projPool, projStore, projections.Config{Counter: counter, Logger: logger}, rs.Tickets, rs.Delegations, reminders)
	if err != nil {
		return err
	}
	if err := runner.Migrate(ctx); err != nil {
		return fmt.Errorf("read-model migrations: %w", err)
	}
	rs.Runner = runner
	if cfg.has(roleAPI) && cfg.has(roleProjector) {
		rs.Pacer = projections.NewPacer(runner, projections.TicketsName, cfg.readLagBound)
		store.pacer = rs.Pacer
	}
	reg.MustRegister(&lagCollector{runner: runner})

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	spawn := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(workCtx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("worker stopped", "worker", name, "error", err)
			}
		}()
	}
	spawn("principal-index", index.Run)
	if cfg.has(roleProjector) {
		spawn("projector", runner.Run)
	}
	if cfg.has(roleScheduler) {
		spawn("scheduler", scheduler.New(reminders, svc, scheduler.Config{Logger: logger}).Run)
	}
	var (
		webhooks *relay.Store
		outcomes *relay.Relay
	)
	if cfg.has(roleRelay) {
		if webhooks, outcomes, err = startRelay(ctx, cfg, pool, follow, logger, spawn); err != nil {
			return err
		}
	}

	if cfg.has(roleAPI) {
		boot, created, err := svc.Bootstrap(ctx, commands.Bootstrap{})
		if err != nil {
			return fmt.Errorf("bootstrap the first admin: %w", err)
		}
		if created {
			if err := index.WaitFor(ctx, boot.Position); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\nticketd: a fresh installation: principal %q was created with this bearer token,\n"+
				"shown this once (only its hash is stored):\n\n    %s\n\n", boot.State.ID, boot.Secret)
		}
	}

	srv, err := api.New(api.Config{Commands: svc, Definitions: defs, Principals: index, ReadSide: rs, Webhooks: webhooks, Relay: outcomes, Logger: logger,
		Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Checks: map[string]api.Check{
			"eventstore":  func(ctx context.Context) error { return storeReady(ctx, store) },
			"postgres":    pool.Ping,
			"projections": func(ctx context.Context) error { return projectionsReady(ctx, runner, cfg.has(roleProjector)) },
		}})
	if err != nil {
		return err
	}
	var handler http.Handler = srv
	if !cfg.has(roleAPI) {
		mux := http.NewServeMux()
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			mux.Handle(p, srv)
		}
		handler = mux
	}
	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("ticketd listening", "addr", lis.Addr().String(), "roles", cfg.roles)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(lis) }()

	select {
	case err = <-served:
	case <-ctx.Done():
		logger.Info("shutting down", "grace", cfg.shutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		err = hs.Shutdown(sctx)
		cancel()
		<-served
	}
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("ticketd stopped")
	return err
}

// isPostgresURL reports whether an event-store URL names a PostgreSQL database rather
// than EventStoreDB.
func isPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// projectorPool opens the projector's own pool on the read-model database, so that it
// does not queue behind the API's requests for connections.
func projectorPool(ctx context.Context, poolCfg *pgxpool.Config) (*pgxpool.Pool, error) {
	return ownPool(ctx, poolCfg, projectorPoolConns)
}

// ownPool opens a pool of up to conns connections with poolCfg's settings.
func ownPool(ctx context.Context, poolCfg *pgxpool.Config, conns int32) (*pgxpool.Pool, error) {
	pc := poolCfg.Copy()
	pc.MaxConns, pc.MinConns = conns, 0
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	return p, nil
}

// ensureDatabase creates the embedded default's database if it does not exist, saying
// plainly what to do when no PostgreSQL answers.
func ensureDatabase(ctx context.Context, url string) error {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := cc.Database
	cc.Database = "postgres"
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cc)
	if errors.As(err, new(*pgconn.PgError)) {
		// The server answered and refused: which refusal it is says more than how to start one.
		return dbconn.Error(url, "ticketd's own database, as no --database-url is given", err)
	}
	if err != nil {
		return fmt.Errorf("no PostgreSQL answers on %s:%d (user %s): %w\n\n"+
			"ticketd needs PostgreSQL. Start one, for example:\n"+
			"    docker compose up -d postgres        (this repository's docker-compose.yml), then run ticketd with\n"+
			"        --database-url 'postgres://ticketledger:ticketledger@127.0.0.1:5432/ticketledger?sslmode=disable'\n"+
			"    sudo apt-get install postgresql && sudo pg_ctlcluster --skip-systemctl-redirect <version> main start\n"+
			"with trust authentication for the user postgres on 127.0.0.1, or point ticketd at another\n"+
			"server with --database-url or DATABASE_URL", cc.Host, cc.Port, cc.User, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(cctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func storeReady(ctx context.Context, s eventstore.Store) error {
	_, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	return err
}

// projectionsReady requires every projection healthy and, where this process projects
// actively (another process may be the active one), caught up with the log.
func projectionsReady(ctx context.Context, r *projections.Runner, projecting bool) error {
	sts, err := r.Status(ctx)
	if err != nil {
		return err
	}
	for _, st := range sts {
		switch {
		case !st.Healthy:
			return fmt.Errorf("projection %s is unhealthy: %s", st.Name, st.Err)
		case projecting && st.Active && !st.CaughtUp:
			return fmt.Errorf("projection %s is catching up (%d events behind)", st.Name, st.Lag.Events)
		}
	}
	return nil
}

// minPoolConns is the least pool size ticketd runs with unless the database URL sets
// pool_max_conns: the API, the relay's subscriber and the dispatcher's workers each hold
// connections at once (the projector has a pool of its own with the PostgreSQL store).
// More is not faster: on a 2-core database 24 connections served no more commands than
// 12, and the extra backends running at once took CPU from the projector (ticketbench at
// 64 clients: projection lag p99 about 530 ms with 24, about 320 ms with 12).
const minPoolConns = 12

// readPoolConns is the size of the pool of the API's read-model queries.
const readPoolConns = 4

// projectorPoolConns is the size of the projector's own pool (PostgreSQL event store
// only): its subscriptions, its batches, the log reads of read-your-writes waits, and the
// log reads of the process's other followers (principal index, definitions, relay).
const projectorPoolConns = 6

// startRelay wires the outcome relay: the log subscription that turns final outcomes into
// messages on the configured transport, and the dispatcher that delivers them as signed
// webhooks. Both run until ticketd stops; the transport closes after them. It returns the
// relay's store, which the API serves the webhook operations from, and the relay, whose
// progress the API's reads of deliveries wait for.
func startRelay(ctx context.Context, cfg config, pool *pgxpool.Pool, events eventstore.Store, logger *slog.Logger, spawn func(string, func(context.Context) error)) (*relay.Store, *relay.Relay, error) {
	policy := egress.Policy{Allow: cfg.webhookAllow}
	store, err := relay.NewStore(ctx, pool, relay.StoreConfig{Egress: policy, Logger: logger, SecretKey: cfg.secretKey,
		PreviousSecretKeys: cfg.previousKeys})
	if err != nil {
		return nil, nil, fmt.Errorf("relay tables: %w", err)
	}
	var (
		transport interface {
			relay.Transport
			Close() error
		}
		sqlTransport *relay.SQLTransport
	)
	switch cfg.relayTransport {
	case "nats":
		t, err := relay.NewNATSTransport(ctx, relay.NATSTransportConfig{URL: cfg.natsURL, Topic: cfg.natsTopic, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("relay over NATS at %s: %w", cfg.natsURL, err)
		}
		transport = t
	default:
		t, err := relay.NewSQLTransport(ctx, pool, relay.SQLTransportConfig{Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("relay over PostgreSQL: %w", err)
		}
		transport, sqlTransport = t, t
	}
	r, err := relay.New(events, store, transport, relay.RelayConfig{Logger: logger})
	if err != nil {
		transport.Close()
		return nil, nil, err
	}
	d, err := relay.NewDispatcher(store, transport, relay.DispatcherConfig{Egress: policy, Logger: logger,
		Schedule: cfg.webhookSchedule, Timeout: cfg.webhookTimeout})
	if err != nil {
		transport.Close()
		return nil, nil, err
	}
	var running sync.WaitGroup
	running.Add(2)
	spawn("relay", func(ctx context.Context) error { defer running.Done(); return r.Run(ctx) })
	spawn("dispatcher", func(ctx context.Context) error { defer running.Done(); return d.Run(ctx) })
	if cfg.webhookRetention > 0 {
		spawn("relay-retention", func(ctx context.Context) error { return store.RunRetention(ctx, cfg.webhookRetention, time.Hour) })
	}
	if sqlTransport != nil {
		spawn("relay-prune", func(ctx context.Context) error { return sqlTransport.RunPruner(ctx, relay.DefaultSQLPruneInterval) })
	}
	spawn("relay-transport", func(ctx context.Context) error {
		running.Wait()
		return transport.Close()
	})
	logger.Info("relay: outcomes go to business systems as signed webhooks", "transport", cfg.relayTransport)
	if cfg.secretKey == nil {
		logger.Warn("relay: webhook signing secrets are stored in clear; set TICKETD_SECRET_KEY or --secret-key-file to encrypt them")
	}
	return store, r, nil
}
