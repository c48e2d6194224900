package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// benchConns is the pool size of the benchmarks: the raw-INSERT baseline and the store
// share one pool, so both get the same number of concurrent transactions.
const benchConns = 32

// benchPayload is the data of every benchmark row and event: 200 bytes, as in the
// conformance benchmarks.
var benchPayload = []byte(`{"pad":"` + strings.Repeat("x", 190) + `"}`)

// benchChunks is the number of slices in which BenchmarkAppend alternates raw INSERTs and
// appends, so that both see the same background load.
const benchChunks = 4

// BenchmarkRawInsert is the baseline for appends: each operation is one single-row INSERT
// of the 200-byte payload into a plain table (bigserial key, bytea), committed on its own,
// by 1 and 32 concurrent writers sharing a pool of benchConns connections.
func BenchmarkRawInsert(b *testing.B) {
	pool := benchPool(b)
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			elapsed, err := runOps(b.N, writers, rawInsert(pool))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "inserts/s")
		})
	}
}

// BenchmarkAppend measures appends of 1 and 10 events of the 200-byte payload by 1 and 32
// writers, each writer appending at the exact version it last wrote to streams of its own,
// a new stream every 100 appends; event IDs are left for the store to fill in. Each
// sub-benchmark runs b.N appends and, alternating with them in benchChunks slices on the
// same pool, b.N raw INSERTs (see BenchmarkRawInsert), untimed. It reports events/s,
// appends/s, the raw inserts/s and ratio_vs_raw: appends per second over raw INSERT
// transactions per second.
func BenchmarkAppend(b *testing.B) {
	pool := benchPool(b)
	ctx := testContext(b)
	s, err := New(ctx, pool, Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	raw := rawInsert(pool)
	for _, size := range []int{1, 10} {
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("events=%d/writers=%d", size, writers), func(b *testing.B) {
				app := newAppender(s, size, writers)
				var rawTime, appendTime time.Duration
				for c := range benchChunks {
					n := b.N/benchChunks + boolInt(c < b.N%benchChunks)
					b.StopTimer()
					d, err := runOps(n, writers, raw)
					if err != nil {
						b.Fatal(err)
					}
					rawTime += d
					b.StartTimer()
					if d, err = runOps(n, writers, app.append); err != nil {
						b.Fatal(err)
					}
					appendTime += d
				}
				appends := float64(b.N) / appendTime.Seconds()
				inserts := float64(b.N) / rawTime.Seconds()
				b.ReportMetric(appends*float64(size), "events/s")
				b.ReportMetric(appends, "appends/s")
				b.ReportMetric(inserts, "raw_inserts/s")
				b.ReportMetric(appends/inserts, "ratio_vs_raw")
			})
		}
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// benchPool returns a pool of benchConns connections to a fresh database holding the
// raw_events table of the baseline.
func benchPool(b *testing.B) *pgxpool.Pool {
	url := pgtest.NewDatabase(b)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchConns
	ctx := testContext(b)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (id bigserial PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	return pool
}

func rawInsert(pool *pgxpool.Pool) func(ctx context.Context, writer int) error {
	return func(ctx context.Context, _ int) error {
		_, err := pool.Exec(ctx, `INSERT INTO raw_events (data) VALUES ($1)`, benchPayload)
		return err
	}
}

// runOps runs op n times from writers goroutines and returns the time it took.
func runOps(n, writers int, op func(ctx context.Context, writer int) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	began := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := op(ctx, w); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return 0, *err
	}
	return time.Since(began), nil
}

var benchRun atomic.Int64

// appender keeps, for each writer of an append benchmark, the stream it writes to and
// that stream's version.
type appender struct {
	store   *Store
	size    int
	ns      string
	writers []appendWriter
}

type appendWriter struct {
	appends int
	stream  string
	version uint64
	events  []eventstore.EventData
}

func newAppender(s *Store, size, writers int) *appender {
	a := &appender{store: s, size: size, ns: fmt.Sprintf("bench%d", benchRun.Add(1)), writers: make([]appendWriter, writers)}
	for i := range a.writers {
		a.writers[i].events = make([]eventstore.EventData, size)
	}
	return a
}

func (a *appender) append(ctx context.Context, writer int) error {
	w := &a.writers[writer]
	if w.appends%100 == 0 {
		w.stream, w.version = fmt.Sprintf("%s-%d-%d", a.ns, writer, w.appends), 0
	}
	w.appends++
	for i := range w.events {
		w.events[i] = eventstore.EventData{Type: "bench.appended", Data: benchPayload}
	}
	res, err := a.store.Append(ctx, w.stream, eventstore.Exact(w.version), w.events...)
	w.version = res.Version
	return err
}

// BenchmarkCatchUp measures how fast a new subscription delivers 100,000 stored events
// of 200 bytes, unfiltered, to a consumer that only counts them.
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	s, _ := openStore(b, Config{})
	ctx := testContext(b)
	events := make([]eventstore.EventData, 100)
	for i := 0; i < n; i += len(events) {
		for j := range events {
			events[j] = eventstore.EventData{Type: "bench.appended", Data: benchPayload}
		}
		stream := fmt.Sprintf("bench-%d", i/1000)
		if _, err := s.Append(ctx, stream, eventstore.Any, events...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if got := catchUp(ctx, b, s); got != n {
			b.Fatalf("catch-up delivered %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

func catchUp(ctx context.Context, b *testing.B, s *Store) int {
	sub, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	got := 0
	for m := range sub.Messages() {
		switch m.Kind {
		case eventstore.EventMessage:
			got++
		case eventstore.CaughtUpMessage:
			return got
		}
	}
	b.Fatalf("subscription ended: %v", sub.Err())
	return 0
}

// BenchmarkImport measures Import of 200,000 events of the 200-byte payload, in streams of
// 5, against the baseline of COPYing the same rows into a plain table without index or
// default (raw_copy), alternating the two on the same database. It reports events/s, the
// raw COPY rows/s and ratio_vs_copy: imported events per second over copied rows per
// second.
func BenchmarkImport(b *testing.B) {
	const streams, size = 40_000, 5
	s, _ := openStore(b, Config{})
	ctx := testContext(b)
	if _, err := s.pool.Exec(ctx, `CREATE TABLE raw_copy (stream text, version bigint, event_id uuid, type text, data bytea, metadata bytea)`); err != nil {
		b.Fatal(err)
	}
	var imported, copied time.Duration
	for range b.N {
		ns := fmt.Sprintf("bench%d", benchRun.Add(1))
		all := make([]ImportStream, streams)
		for i := range all {
			all[i] = ImportStream{Stream: fmt.Sprintf("%s-%d", ns, i), Events: make([]eventstore.EventData, size)}
			for k := range all[i].Events {
				all[i].Events[k] = eventstore.EventData{ID: uuid.New(), Type: "bench.imported", Data: benchPayload}
			}
		}
		start := time.Now()
		if _, err := s.Import(ctx, yieldAll(all), ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		imported += time.Since(start)

		rows := make([][]any, 0, streams*size)
		for _, st := range all {
			for k, e := range st.Events {
				rows = append(rows, []any{st.Stream + "-copy", int64(k + 1), [16]byte(e.ID), e.Type, e.Data, e.Metadata})
			}
		}
		start = time.Now()
		if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"raw_copy"}, importColumns, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		copied += time.Since(start)
	}
	n := float64(b.N * streams * size)
	b.ReportMetric(n/imported.Seconds(), "events/s")
	b.ReportMetric(n/copied.Seconds(), "copy-rows/s")
	b.ReportMetric(copied.Seconds()/imported.Seconds(), "ratio_vs_copy")
}
