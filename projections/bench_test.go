package projections_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/projections"
)

var (
	benchQueries    = flag.Int("bench.queries", 2000, "workbench pages read per benchmark run")
	benchRebuilders = flag.Int("bench.rebuilders", projections.DefaultRebuildWorkers, "concurrent writers of a rebuild")
)

// BenchmarkRebuildAndWorkbench generates a log of -bench.tickets tickets (see generate;
// -bench.keepdb reuses one), rebuilds the tickets projection from it
// (events/s, with progress on stderr) and reads pages of pending lists (p50/p99 latency).
// The same-run baseline is the rate at which the same PostgreSQL writes one narrow row per
// event of the log into a plain table (INSERT ... SELECT), the mean of a run before the
// rebuilds and one after; each rebuild rate is also reported as a ratio to it.
func BenchmarkRebuildAndWorkbench(b *testing.B) {
	ctx := context.Background()
	url, store, ds := benchDatabase(b)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	var logSize, dbSize int64
	if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('events'), pg_database_size(current_database())`).Scan(&logSize, &dbSize); err != nil {
		b.Fatal(err)
	}
	b.Logf("data set: %d tickets (%d open), %d events, %d pending tasks; events table %d MB, database %d MB; generated in %s",
		ds.Tickets, ds.OpenTickets, ds.Events, ds.Pending, logSize>>20, dbSize>>20, ds.Generation.Round(time.Second))

	r, err := projections.NewRunner(pool, store, projections.Config{Counter: projections.SequenceCounter{},
		RebuildWorkers: *benchRebuilders, ProgressInterval: 10 * time.Second},
		projections.NewTickets(pool), projections.NewDelegations(pool))
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := baselineRate(b, pool)
		rates := map[string]float64{}
		for _, name := range []string{projections.TicketsName} {
			start := time.Now()
			if err := r.Rebuild(ctx, name, printProgress); err != nil {
				b.Fatal(err)
			}
			rates[name] = float64(ds.Events) / time.Since(start).Seconds()
		}
		base := (before + baselineRate(b, pool)) / 2
		b.ReportMetric(base, "baseline-rows/s")
		for name, rate := range rates {
			b.ReportMetric(rate, name+"-events/s")
			b.ReportMetric(rate/base, name+"/baseline")
		}
		var pending int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM rm_tickets.tasks WHERE status = 'pending'`).Scan(&pending); err != nil {
			b.Fatal(err)
		}
		if pending != ds.Pending || pending < ds.OpenTickets {
			b.Fatalf("%d pending tasks after the rebuild; the generator left %d on %d open tickets", pending, ds.Pending, ds.OpenTickets)
		}
		wb := projections.NewWorkbench(pool)
		rng := rand.New(rand.NewPCG(2, uint64(i)))
		lat := make([]time.Duration, 0, *benchQueries)
		for q := 0; q < *benchQueries; q++ {
			p := fmt.Sprintf("%s%d", []string{"cs", "fin", "cash"}[rng.IntN(3)], rng.IntN(ds.Approvers))
			start := time.Now()
			if _, err := wb.List(ctx, projections.WorkbenchQuery{Principal: p, List: projections.Pending}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(ds.Events), "events")
		b.ReportMetric(float64(logSize>>20), "log-MB")
		b.ReportMetric(float64(pending), "pending-tasks")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "page-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "page-p99-ms")
	}
}

// baselineRate writes one narrow row per event of the log into a plain table, without
// index, with INSERT ... SELECT, and returns the rows written per second.
func baselineRate(b *testing.B, pool *pgxpool.Pool) float64 {
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS bench_baseline;
		CREATE TABLE bench_baseline (stream text, version bigint, type text, created timestamptz)`); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := pool.Exec(ctx, `DROP TABLE bench_baseline`); err != nil {
			b.Error(err)
		}
	}()
	start := time.Now()
	tag, err := pool.Exec(ctx, `INSERT INTO bench_baseline SELECT stream, version, type, created FROM events`)
	if err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "bench: baseline: %d rows in %s\n", tag.RowsAffected(), d.Round(time.Millisecond))
	return float64(tag.RowsAffected()) / d.Seconds()
}

// printProgress prints a rebuild's progress to stderr.
func printProgress(p projections.Progress) {
	fmt.Fprintf(os.Stderr, "bench: rebuild %s: %s %d/%d events, %.0f events/s, %s elapsed, ETA %s\n",
		p.Projection, p.Phase, p.Done, p.Total, p.Rate, p.Elapsed.Round(time.Second), p.Remaining.Round(time.Second))
}
