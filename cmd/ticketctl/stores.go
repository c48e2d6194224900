package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/dbconn"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/scheduler"
)

// stores are the event store and the read-model database, opened as ticketd opens them.
type stores struct {
	pool  *pgxpool.Pool
	store eventstore.Store
	// pg is true when PostgreSQL (pgstore) is the event store.
	pg bool
}

// openStores connects to PostgreSQL and to the event store (EventStoreDB when
// --eventstore-url is set to an esdb:// URL, pgstore on that database when it is a
// postgres:// URL, pgstore on --database-url otherwise). It refuses a database that holds no
// ticketledger event log (pgstore) or, with readModels, no read models, rather than
// creating them.
func (o *options) openStores(ctx context.Context, readModels bool) (*stores, error) {
	where := dbconn.Redact(o.databaseURL)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return nil, usagef("database URL %s: %v (--database-url or DATABASE_URL)", where, err)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, dbconn.Error(o.databaseURL, "--database-url or DATABASE_URL", err)
	}
	has := func(table string) (bool, error) {
		var ok bool
		err := pool.QueryRow(cctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok)
		return ok, err
	}
	if readModels {
		ok, err := has("public.projection_checkpoints")
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("PostgreSQL at %s: %w", where, err)
		}
		if !ok {
			pool.Close()
			return nil, fmt.Errorf("database %s holds no ticketledger read models: is --database-url (DATABASE_URL) the database ticketd uses?", where)
		}
	}
	s := &stores{pool: pool}
	if strings.HasPrefix(o.eventstoreURL, "postgres://") || strings.HasPrefix(o.eventstoreURL, "postgresql://") {
		ps, err := pgstore.Open(ctx, o.eventstoreURL, pgstore.Config{})
		if err != nil {
			pool.Close()
			return nil, dbconn.Error(o.eventstoreURL, "--eventstore-url or EVENTSTORE_URL", err)
		}
		s.store, s.pg = ps, true
		return s, nil
	}
	if o.eventstoreURL != "" {
		es, err := esdb.Open(ctx, o.eventstoreURL)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("EventStoreDB at %s (--eventstore-url or EVENTSTORE_URL): %w", dbconn.Redact(o.eventstoreURL), err)
		}
		s.store = es
		return s, nil
	}
	ok, err := has("public.events")
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", where, err)
	}
	if !ok {
		pool.Close()
		return nil, fmt.Errorf("database %s holds no ticketledger event log: is --database-url (DATABASE_URL) the database ticketd uses, or is EventStoreDB the event store (--eventstore-url)?", where)
	}
	ps, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL event store at %s: %w", where, err)
	}
	s.store, s.pg = ps, true
	return s, nil
}

// Close closes the event store, then the pool.
func (s *stores) Close() {
	s.store.Close()
	s.pool.Close()
}

// runner returns a projection Runner over the read models ticketd runs, configured as
// ticketd configures it, reporting rebuild progress every interval.
func (s *stores) runner(stderr io.Writer, interval time.Duration) (*projections.Runner, []string, error) {
	ps := []projections.Projection{projections.NewTickets(s.pool), projections.NewDelegations(s.pool),
		scheduler.NewReminders(s.pool)}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	cfg := projections.Config{ProgressInterval: interval,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if s.pg {
		cfg.Counter = projections.SequenceCounter{}
	}
	r, err := projections.NewRunner(s.pool, s.store, cfg, ps...)
	return r, names, err
}
