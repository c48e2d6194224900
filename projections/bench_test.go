package projections_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
)

var (
	benchTickets    = flag.Int("bench.tickets", 5000, "tickets generated for the projection benchmarks")
	benchApprovers  = flag.Int("bench.approvers", 200, "approvers per node among whom the benchmark tickets are spread")
	benchOpenShare  = flag.Float64("bench.open", 0.1, "share of the benchmark tickets left with a pending task")
	benchQueries    = flag.Int("bench.queries", 2000, "workbench pages read per benchmark run")
	benchAppendPool = flag.Int("bench.writers", 4, "concurrent appenders of the generator")
	benchRebuilders = flag.Int("bench.rebuilders", projections.DefaultRebuildWorkers, "concurrent writers of a rebuild")
)

// spread is a three-node process whose handlers are drawn from pools of approvers by the
// order id, so that work spreads as in a real organisation.
type spread struct{ approvers int }

func (spread) Key() string                 { return "refund" }
func (spread) Version() int                { return 1 }
func (spread) UrgeInterval() time.Duration { return time.Minute }
func (spread) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	var f ticket.Fields
	err := json.Unmarshal(raw, &f)
	return f, err
}

func (s spread) Route(f ticket.Fields, _ ticket.Submitter) ([]ticket.Node, error) {
	h := fnv.New32a()
	h.Write(f["order_id"])
	n := int(h.Sum32())
	pick := func(prefix string, k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, (n+i*7919)%s.approvers)
		}
		return out
	}
	return []ticket.Node{
		{Key: "business", Mode: ticket.OneOf, Handlers: pick("cs", 2), Visible: businessVisible, DueAfter: 8 * time.Hour},
		{Key: "finance", Mode: ticket.AllOf, Handlers: pick("fin", 2), Visible: financeVisible, DueAfter: 6 * time.Hour, RejectTo: "business"},
		{Key: "cashier", Mode: ticket.OneOf, Handlers: pick("cash", 1), Visible: cashierVisible, DueAfter: 4 * time.Hour},
	}, nil
}

// generate appends n ticket streams decided in memory with the domain, a whole stream per
// append: a bulk path that skips the command service's load-before-decide. It returns
// the number of events written.
func generate(tb testing.TB, store eventstore.Store, n int, seed uint64) int64 {
	tb.Helper()
	def := spread{approvers: *benchApprovers}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		fail  error
	)
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for w := 0; w < *benchAppendPool; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < n; i += *benchAppendPool {
				data, err := decideStream(def, rng, i, t0.Add(time.Duration(i)*time.Second))
				if err == nil {
					_, err = store.Append(context.Background(), ticket.Stream(data.id), eventstore.NoStream, data.events...)
				}
				mu.Lock()
				total += int64(len(data.events))
				if err != nil && fail == nil {
					fail = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if fail != nil {
		tb.Fatal(fail)
	}
	return total
}

type stream struct {
	id     string
	events []eventstore.EventData
}

// decideStream plays one ticket through the domain: submitted, then approved node by
// node, ending open (a pending task) for a share of tickets.
func decideStream(def spread, rng *rand.Rand, i int, at time.Time) (stream, error) {
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("bench-", i))).String()
	st := ticket.Initial()
	var out []ticket.Event
	do := func(cmd ticket.Command) error {
		evs, err := ticket.Decide(st, cmd)
		for _, e := range evs {
			st = ticket.Evolve(st, e)
		}
		out = append(out, evs...)
		return err
	}
	fields := fmt.Sprintf(`{"order_id":"SO-%d","customer":"C%d","amount":"%d.00","refund_method":"original","payee_name":"P%d","items":[{"sku":"A","quantity":1}]}`, i, i, 10+rng.IntN(5000), i)
	err := do(ticket.Submit{TicketID: id, Definition: def, Fields: json.RawMessage(fields), BusinessKey: fmt.Sprint("order-", i),
		Submitter: ticket.Submitter{ID: fmt.Sprint("user", rng.IntN(5000))}, Title: fmt.Sprint("Refund ", i),
		By: ticket.Actor{ID: "svc-shop", System: "shop"}, At: at})
	open := rng.Float64() < *benchOpenShare
	stopAt := 1 + rng.IntN(4)
	for step := 0; err == nil && !st.Status.Final(); step++ {
		if open && step >= stopAt && len(st.PendingHandlers()) > 0 {
			break
		}
		at = at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
		pending := st.PendingHandlers()
		if len(pending) == 0 {
			break
		}
		err = do(ticket.Approve{By: ticket.Actor{ID: pending[rng.IntN(len(pending))]}, Comment: "ok", At: at})
	}
	if err != nil {
		return stream{}, err
	}
	s := stream{id: id, events: make([]eventstore.EventData, len(out))}
	prev := envelope.Genesis
	cmd := uuid.New()
	for k, e := range out {
		typ, data, err := ticket.Encode(e)
		if err != nil {
			return s, err
		}
		var md []byte
		md, prev, err = envelope.Seal(envelope.Metadata{Schema: ticket.SchemaVersion, Actor: "bench", CommandID: cmd, Time: at}, prev, typ, data)
		if err != nil {
			return s, err
		}
		s.events[k] = eventstore.EventData{ID: envelope.EventID(cmd, k), Type: typ, Data: data, Metadata: md}
	}
	return s, nil
}

// BenchmarkRebuildAndWorkbench generates -bench.tickets tickets, rebuilds the tickets
// and timeline projections from them (events/s) and reads pages of pending lists
// (p50/p99 latency).
func BenchmarkRebuildAndWorkbench(b *testing.B) {
	ctx := context.Background()
	url := pgtest.NewDatabase(b)
	store, err := pgstore.Open(ctx, url, pgstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	start := time.Now()
	events := generate(b, store, *benchTickets, 1)
	b.Logf("generated %d tickets, %d events in %s", *benchTickets, events, time.Since(start).Round(time.Millisecond))

	r, err := projections.NewRunner(pool, store, projections.Config{Counter: projections.SequenceCounter{}, RebuildWorkers: *benchRebuilders},
		projections.NewTickets(pool), projections.NewDelegations(pool), projections.NewTimeline(pool))
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, name := range []string{projections.TicketsName, projections.TimelineName} {
			start := time.Now()
			if err := r.Rebuild(ctx, name, nil); err != nil {
				b.Fatal(err)
			}
			d := time.Since(start)
			b.ReportMetric(float64(events)/d.Seconds(), name+"-events/s")
		}
		var pending int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM rm_tickets.tasks WHERE status = 'pending'`).Scan(&pending); err != nil {
			b.Fatal(err)
		}
		wb := projections.NewWorkbench(pool)
		rng := rand.New(rand.NewPCG(2, uint64(i)))
		lat := make([]time.Duration, 0, *benchQueries)
		for q := 0; q < *benchQueries; q++ {
			p := fmt.Sprintf("%s%d", []string{"cs", "fin", "cash"}[rng.IntN(3)], rng.IntN(*benchApprovers))
			start := time.Now()
			if _, err := wb.List(ctx, projections.WorkbenchQuery{Principal: p, List: projections.Pending}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(pending), "pending-tasks")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "page-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "page-p99-ms")
	}
}
