package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/internal/dbconn"
)

// baselinePayload is the row each baseline INSERT writes: 200 bytes, about an event's.
var baselinePayload = []byte(`{"pad":"` + strings.Repeat("x", 190) + `"}`)

// baselineResult is what the INSERT baseline measured.
type baselineResult struct {
	inserts int
	elapsed time.Duration
	latency []time.Duration
}

func (b baselineResult) rate() float64 { return float64(b.inserts) / b.elapsed.Seconds() }

// baseline runs single-row INSERT transactions (autocommit, a prepared statement per
// connection) from conc connections for d into a table of its own, created in the
// database of dbURL and dropped afterwards.
func baseline(ctx context.Context, dbURL string, conc int, d time.Duration) (baselineResult, error) {
	where := dbconn.Redact(dbURL)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return baselineResult{}, usagef("--database-url %s: %v", where, err)
	}
	cfg.MaxConns, cfg.MinConns = int32(conc), 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return baselineResult{}, fmt.Errorf("PostgreSQL at %s: %w", where, err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return baselineResult{}, dbconn.Error(dbURL, "--database-url or DATABASE_URL", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return baselineResult{}, err
	}
	table := pgx.Identifier{"ticketbench_raw_" + hex.EncodeToString(b[:])}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+table+` (id bigserial PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		return baselineResult{}, fmt.Errorf("create the baseline's table in %s: %w", where, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(dctx, `DROP TABLE IF EXISTS `+table)
	}()
	insert := `INSERT INTO ` + table + ` (data) VALUES ($1)`

	// Open every connection and prepare the statement before the clock starts.
	conns := make([]*pgxpool.Conn, conc)
	for i := range conns {
		if conns[i], err = pool.Acquire(ctx); err != nil {
			for _, c := range conns[:i] {
				c.Release()
			}
			return baselineResult{}, fmt.Errorf("open %d connections to %s: %w", conc, where, err)
		}
		if _, err = conns[i].Exec(ctx, insert, baselinePayload); err != nil {
			for _, c := range conns[:i+1] {
				c.Release()
			}
			return baselineResult{}, fmt.Errorf("baseline INSERT: %w", err)
		}
	}
	lat := make([][]time.Duration, conc)
	errs := make([]error, conc)
	began := time.Now()
	stop := began.Add(d)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Release()
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(stop) {
					return
				}
				if _, err := c.Exec(ctx, insert, baselinePayload); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	res := baselineResult{elapsed: time.Since(began)}
	for i := range lat {
		if errs[i] != nil && ctx.Err() == nil {
			return res, fmt.Errorf("baseline INSERT: %w", errs[i])
		}
		res.latency = append(res.latency, lat[i]...)
	}
	res.inserts = len(res.latency)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}
