package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

var (
	benchTickets   = flag.Int("bench.tickets", 5000, "tickets generated for the projection benchmarks")
	benchApprovers = flag.Int("bench.approvers", 200, "approvers per pool among whom the benchmark tickets are spread")
	benchOpenShare = flag.Float64("bench.open", 0.1, "share of the benchmark tickets left with pending tasks")
	benchSpread    = flag.Float64("bench.spread", 0.15, "share of the benchmark tickets on the three-node process; the others go through one node")
	benchDeciders  = flag.Int("bench.deciders", runtime.GOMAXPROCS(0), "goroutines deciding the benchmark tickets")
	benchKeepDB    = flag.String("bench.keepdb", "", "generate the benchmark data set once into the database tl_bench_NAME, kept and reused by later runs with the same data set flags; empty: a fresh database, dropped at the end")
)

// spread is a three-node process whose handlers are drawn from pools of approvers by the
// order id, so that work spreads as in a real organisation. A ticket takes four
// approvals: business, two in finance, cashier.
type spread struct{ approvers int }

func (spread) Key() string                 { return "refund" }
func (spread) Version() int                { return 1 }
func (spread) UrgeInterval() time.Duration { return time.Minute }

func (spread) TicketSLA() (due, remind time.Duration) { return 0, 0 }

func (spread) System() string { return "" }
func (spread) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	var f ticket.Fields
	err := json.Unmarshal(raw, &f)
	return f, err
}

func (s spread) Route(f ticket.Fields, _ ticket.Submitter) ([]ticket.Node, error) {
	pick := picker(f, s.approvers)
	return []ticket.Node{
		{Key: "business", Mode: ticket.OneOf, Handlers: pick("cs", 2), Visible: businessVisible, DueAfter: 8 * time.Hour},
		{Key: "finance", Mode: ticket.AllOf, Handlers: pick("fin", 2), Visible: financeVisible, DueAfter: 6 * time.Hour, RejectTo: "business"},
		{Key: "cashier", Mode: ticket.OneOf, Handlers: pick("cash", 1), Visible: cashierVisible, DueAfter: 4 * time.Hour},
	}, nil
}

// single is a one-node process: a review by one of two handlers of one of spread's pools,
// all drawn by the order id. A ticket takes one approval.
type single struct{ approvers int }

func (single) Key() string                 { return "expense" }
func (single) Version() int                { return 1 }
func (single) UrgeInterval() time.Duration { return time.Minute }

func (single) TicketSLA() (due, remind time.Duration) { return 0, 0 }

func (single) System() string { return "" }
func (single) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	return spread{}.ValidateFields(raw)
}

func (s single) Route(f ticket.Fields, _ ticket.Submitter) ([]ticket.Node, error) {
	pick := picker(f, s.approvers)
	pool := []string{"cs", "fin", "cash"}[orderHash(f)%3]
	return []ticket.Node{{Key: "review", Mode: ticket.OneOf, Handlers: pick(pool, 2), DueAfter: 8 * time.Hour}}, nil
}

func orderHash(f ticket.Fields) int {
	h := fnv.New32a()
	h.Write(f["order_id"])
	return int(h.Sum32() >> 1)
}

// picker returns a function that draws k handlers of a pool of approvers by the order id.
func picker(f ticket.Fields, approvers int) func(prefix string, k int) []string {
	n := orderHash(f)
	return func(prefix string, k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, (n+i*7919)%approvers)
		}
		return out
	}
}

// dataset describes a generated benchmark log: the flags it was generated with and what
// the generator counted.
type dataset struct {
	Tickets   int     `json:"tickets"`
	Open      float64 `json:"open"`
	Spread    float64 `json:"spread"`
	Approvers int     `json:"approvers"`
	Seed      uint64  `json:"seed"`

	Events      int64         `json:"events"`
	OpenTickets int64         `json:"open_tickets"`
	Pending     int64         `json:"pending"`
	Generation  time.Duration `json:"generation_ns"`
}

// sameFlags reports whether d was generated with the flags of e.
func (d dataset) sameFlags(e dataset) bool {
	return d.Tickets == e.Tickets && d.Open == e.Open && d.Spread == e.Spread && d.Approvers == e.Approvers && d.Seed == e.Seed
}

// flagDataset is the data set the benchmark flags ask for.
func flagDataset() dataset {
	return dataset{Tickets: *benchTickets, Open: *benchOpenShare, Spread: *benchSpread, Approvers: *benchApprovers, Seed: 1}
}

// benchDatabase returns the database of the benchmark, holding the log of the data set
// the flags ask for, and that data set. With -bench.keepdb it reuses the kept database if
// it holds that data set, and otherwise empties it and generates the data set into it;
// without, it generates into a fresh database dropped when b ends.
func benchDatabase(b *testing.B) (string, *pgstore.Store, dataset) {
	ctx := context.Background()
	want := flagDataset()
	url := ""
	if *benchKeepDB != "" {
		url, _ = pgtest.KeptDatabase(b, "tl_bench_"+*benchKeepDB)
	} else {
		url = pgtest.NewDatabase(b)
	}
	store, err := pgstore.Open(ctx, url, pgstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if *benchKeepDB == "" {
		return url, store, generate(b, store, want)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_dataset (spec jsonb NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var have dataset
	switch err := conn.QueryRow(ctx, `SELECT spec FROM bench_dataset`).Scan(&have); {
	case err == nil && have.sameFlags(want):
		fmt.Fprintf(os.Stderr, "bench: reusing the data set of %s: %d tickets, %d events, %d pending tasks (generated in %s)\n",
			url, have.Tickets, have.Events, have.Pending, have.Generation.Round(time.Second))
		return url, store, have
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "bench: emptying %s for a new data set\n", url)
	if _, err := conn.Exec(ctx, `TRUNCATE events RESTART IDENTITY; DELETE FROM bench_dataset`); err != nil {
		b.Fatal(err)
	}
	ds := generate(b, store, want)
	if _, err := conn.Exec(ctx, `INSERT INTO bench_dataset (spec) VALUES ($1)`, ds); err != nil {
		b.Fatal(err)
	}
	return url, store, ds
}

// decided is a ticket played through the domain: its stream and the number of tasks left
// pending.
type decided struct {
	stream  pgstore.ImportStream
	pending int
}

// decideTicket plays ticket i through the domain: submitted, then approved task by task,
// ending open (with pending tasks) for a share of tickets. Its events are sealed into a
// hash chain as the command service seals them.
func decideTicket(ds dataset, rng *rand.Rand, i int, at time.Time) (decided, error) {
	var (
		def       ticket.Definition = single{approvers: ds.Approvers}
		approvals                   = 1
	)
	if rng.Float64() < ds.Spread {
		def, approvals = spread{approvers: ds.Approvers}, 4
	}
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
		Submitter: ticket.Submitter{ID: fmt.Sprint("user", rng.IntN(5000))}, Title: fmt.Sprint("Ticket ", i),
		By: ticket.Actor{ID: "svc-shop", System: "shop"}, At: at})
	stopAt := approvals
	if rng.Float64() < ds.Open {
		stopAt = rng.IntN(approvals)
	}
	for step := 0; err == nil && !st.Status.Final() && step < stopAt; step++ {
		pending := st.PendingHandlers()
		if len(pending) == 0 {
			break
		}
		at = at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
		err = do(ticket.Approve{By: ticket.Actor{ID: pending[rng.IntN(len(pending))]}, Comment: "ok", At: at})
	}
	if err != nil {
		return decided{}, err
	}
	d := decided{stream: pgstore.ImportStream{Stream: ticket.Stream(id), Events: make([]eventstore.EventData, len(out))}}
	if !st.Status.Final() {
		d.pending = len(st.PendingHandlers())
	}
	prev := envelope.Genesis
	cmd := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("bench-command-", i)))
	for k, e := range out {
		typ, data, err := ticket.Encode(e)
		if err != nil {
			return d, err
		}
		var md []byte
		md, prev, err = envelope.Seal(envelope.Metadata{Schema: ticket.SchemaVersion, Actor: "bench", CommandID: cmd, Time: at}, prev, typ, data)
		if err != nil {
			return d, err
		}
		d.stream.Events[k] = eventstore.EventData{ID: envelope.EventID(cmd, k), Type: typ, Data: data, Metadata: md}
	}
	return d, nil
}

// generateBatch is the number of tickets a decider plays per turn; each batch has a
// random source of its own, so that the data set does not depend on scheduling.
const generateBatch = 256

// generate decides the tickets of ds with -bench.deciders goroutines and imports them
// into store, printing progress to stderr. It returns ds with the generator's counts.
func generate(b *testing.B, store *pgstore.Store, ds dataset) dataset {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var (
		next             atomic.Int64
		open, pending    atomic.Int64
		wg               sync.WaitGroup
		batches          = make(chan []pgstore.ImportStream, 2*max(1, *benchDeciders))
		t0               = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
		start, lastPrint = time.Now(), time.Now()
	)
	for range max(1, *benchDeciders) {
		wg.Go(func() {
			for {
				lo := int(next.Add(generateBatch)) - generateBatch
				if lo >= ds.Tickets || ctx.Err() != nil {
					return
				}
				rng := rand.New(rand.NewPCG(ds.Seed, uint64(lo)))
				batch := make([]pgstore.ImportStream, 0, generateBatch)
				for i := lo; i < min(lo+generateBatch, ds.Tickets); i++ {
					d, err := decideTicket(ds, rng, i, t0.Add(time.Duration(i)*time.Second))
					if err != nil {
						cancel(fmt.Errorf("ticket %d: %w", i, err))
						return
					}
					if d.pending > 0 {
						open.Add(1)
						pending.Add(int64(d.pending))
					}
					batch = append(batch, d.stream)
				}
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(batches)
	}()
	source := func(yield func(pgstore.ImportStream, error) bool) {
		for batch := range batches {
			for _, st := range batch {
				if !yield(st, nil) {
					return
				}
			}
		}
		if err := context.Cause(ctx); err != nil {
			yield(pgstore.ImportStream{}, err)
		}
	}
	report := func(p pgstore.ImportProgress) {
		rate := float64(p.Streams) / p.Elapsed.Seconds()
		eta := time.Duration(float64(int64(ds.Tickets)-p.Streams) / rate * float64(time.Second))
		fmt.Fprintf(os.Stderr, "bench: generate: %d/%d tickets, %d events, %.0f tickets/s, %.0f events/s, ETA %s\n",
			p.Streams, ds.Tickets, p.Events, rate, float64(p.Events)/p.Elapsed.Seconds(), eta.Round(time.Second))
	}
	done, err := store.Import(ctx, source, pgstore.ImportOptions{Progress: func(p pgstore.ImportProgress) {
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			report(p)
		}
	}})
	cancel(nil)
	for range batches {
	}
	if err != nil {
		b.Fatalf("generate: %v", err)
	}
	if done.Streams != int64(ds.Tickets) {
		b.Fatalf("generate: imported %d tickets of %d", done.Streams, ds.Tickets)
	}
	if done.Streams > 0 {
		report(done)
	}
	ds.Events, ds.OpenTickets, ds.Pending, ds.Generation = done.Events, open.Load(), pending.Load(), time.Since(start)
	return ds
}
