package projections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
)

// refund is a refund-like process of three nodes: business (one-of cs1, cs2) → finance
// (all-of fin1, fin2; only for amounts of 200 or more or refunds not to the original
// payment method; rejections go back to business) → cashier (sequential cash1, cash2;
// rejections go back to finance). Each node sees the fields it needs, as in
// domain/process/examples/refund.yaml.
type refund struct{}

func (refund) Key() string                 { return "refund" }
func (refund) Version() int                { return 1 }
func (refund) UrgeInterval() time.Duration { return time.Millisecond }

func (refund) TicketSLA() (due, remind time.Duration) { return 0, 0 }

func (refund) System() string { return "" }

func (refund) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	var f ticket.Fields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return nil, domain.FieldError("not-an-object", "fields", "must be an object")
	}
	for _, k := range []string{"order_id", "amount", "refund_method", "payee_name"} {
		if _, ok := f[k]; !ok {
			return nil, domain.FieldError("required", "fields."+k, "required")
		}
	}
	return f, nil
}

var (
	businessVisible = []string{"order_id", "customer", "reason", "items", "photos", "amount", "refund_method"}
	financeVisible  = []string{"order_id", "items", "amount", "refund_method"}
	cashierVisible  = []string{"order_id", "amount", "refund_method", "payee_name", "payee_account"}
)

func (refund) Route(f ticket.Fields, _ ticket.Submitter) ([]ticket.Node, error) {
	var amount, method string
	_ = json.Unmarshal(f["amount"], &amount)
	_ = json.Unmarshal(f["refund_method"], &method)
	route := []ticket.Node{{Key: "business", Name: "Business review", Mode: ticket.OneOf, Handlers: []string{"cs1", "cs2"},
		Visible: businessVisible, Editable: []string{"reason"}, DueAfter: 8 * time.Hour}}
	if a, _ := strconv.ParseFloat(amount, 64); a >= 200 || method != "original" {
		route = append(route, ticket.Node{Key: "finance", Name: "Finance review", Mode: ticket.AllOf,
			Handlers: []string{"fin1", "fin2"}, Visible: financeVisible, Editable: []string{"amount"},
			DueAfter: 6 * time.Hour, RejectTo: "business"})
	}
	route = append(route, ticket.Node{Key: "cashier", Name: "Cashier payout", Mode: ticket.Sequential,
		Handlers: []string{"cash1", "cash2"}, Visible: cashierVisible, DueAfter: 4 * time.Hour, RejectTo: "finance"})
	return route, nil
}

type definitions struct{}

func (definitions) Latest(_ context.Context, key string) (ticket.Definition, error) {
	if key != "refund" {
		return nil, domain.Errorf(domain.NotFound, "no-such-process", "no process %s", key)
	}
	return refund{}, nil
}

func (d definitions) Version(ctx context.Context, key string, _ int) (ticket.Definition, error) {
	return d.Latest(ctx, key)
}

var shop = commands.Caller{ID: "svc-shop", System: "shop", Roles: []string{commands.RoleSystem}}

func as(id string) commands.Request {
	return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: id}}
}

func asDelegate(id, principal string) commands.Request {
	return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: id, OnBehalfOf: principal}}
}

func refundFields(amount, method string) json.RawMessage {
	return json.RawMessage(`{"order_id":"SO-1","customer":"Zhang San","reason":"broken","items":[{"sku":"A1","quantity":1}],` +
		`"amount":"` + amount + `","refund_method":"` + method + `","payee_name":"Zhang San","payee_account":"6222-0000"}`)
}

// logBuffer collects log records; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// env is a database holding both the event store and the read models, a command service
// and, once started, a runner.
type env struct {
	t      *testing.T
	url    string
	store  eventstore.Store
	pool   *pgxpool.Pool
	svc    *commands.Service
	logs   *logBuffer
	runner *projections.Runner
	stop   func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	store, err := pgstore.Open(context.Background(), url, pgstore.Config{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newEnvOn(t, url, store)
}

// newESDBEnv keeps the log in an EventStoreDB protocol double and the read models in a
// fresh PostgreSQL database.
func newESDBEnv(t *testing.T) *env {
	t.Helper()
	srv := esdbtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := esdb.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newEnvOn(t, pgtest.NewDatabase(t), store)
}

// eachStore runs fn over each event store, in parallel subtests.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, k := range []struct {
		name string
		open func(*testing.T) *env
	}{{"pgstore", newEnv}, {"esdb", newESDBEnv}} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			fn(t, k.open(t))
		})
	}
}

// newEnvOn uses store for the log and a database at url for the read models.
func newEnvOn(t *testing.T, url string, store eventstore.Store) *env {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &env{t: t, url: url, store: store, pool: pool, logs: &logBuffer{},
		svc: commands.New(store, definitions{})}
}

func (e *env) config() projections.Config {
	cfg := projections.Config{
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	switch st := e.store.(type) {
	case *pgstore.Store:
		cfg.Counter = projections.SequenceCounter{}
	default:
		cfg.Counter = projections.ScanCounter{Store: st, Limit: 1 << 20}
	}
	return cfg
}

// standard returns the package's projections over the env's pool.
func (e *env) standard() []projections.Projection {
	return []projections.Projection{projections.NewTickets(e.pool), projections.NewDelegations(e.pool), journal{}}
}

// start runs a new runner of ps until the test ends or stop is called.
func (e *env) start(cfg projections.Config, ps ...projections.Projection) *projections.Runner {
	e.t.Helper()
	r, err := projections.NewRunner(e.pool, e.store, cfg, ps...)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Migrate(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("run: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stop)
	e.runner = r
	return r
}

// head returns the position of the last event of the log. On pgstore it reads the events
// table: ReadAll hides events behind the cluster-wide transaction horizon, which
// transactions of other databases hold back.
func (e *env) head() eventstore.Position {
	e.t.Helper()
	if e.onPG() {
		var (
			xid uint64
			pos uint64
		)
		err := e.pool.QueryRow(context.Background(), `SELECT transaction_id::text::numeric, position FROM events
			ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&xid, &pos)
		if errors.Is(err, pgx.ErrNoRows) {
			return eventstore.Start
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return eventstore.MakePosition(xid, pos)
	}
	evs, err := e.store.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) == 0 {
		return eventstore.Start
	}
	return evs[0].Position
}

// log returns every event of the log up to its head, waiting (on pgstore) until the
// cluster-wide horizon no longer hides any of them from ReadAll.
func (e *env) log() []eventstore.RecordedEvent {
	e.t.Helper()
	head := e.head()
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs, err := e.store.ReadAll(context.Background(), eventstore.ReadAllOptions{Count: 1 << 20})
		if err != nil {
			e.t.Fatal(err)
		}
		if head.IsZero() || len(evs) > 0 && !evs[len(evs)-1].Position.Before(head) {
			return evs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the log reads %d events, not up to its head %s", len(evs), head)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onPG reports whether the log is pgstore's, in the read models' database.
func (e *env) onPG() bool {
	switch s := e.store.(type) {
	case *pgstore.Store:
		return true
	case redelivering:
		_, ok := s.Store.(*pgstore.Store)
		return ok
	}
	return false
}

// sync waits until every named projection passed the head of the log.
func (e *env) sync(names ...string) {
	e.t.Helper()
	pos := e.head()
	for _, n := range names {
		if err := e.runner.WaitFor(context.Background(), n, pos, 60*time.Second); err != nil {
			e.t.Fatalf("wait for %s at %s: %v", n, pos, err)
		}
	}
}

func (e *env) submit(key, amount, method string) commands.TicketResult {
	e.t.Helper()
	res, err := e.svc.SubmitTicket(context.Background(), commands.SubmitTicket{
		Request: commands.Request{CommandID: uuid.New(), Caller: shop}, Process: "refund", BusinessKey: key,
		Submitter: ticket.Submitter{ID: "wang"}, Title: "Refund " + key, Fields: refundFields(amount, method),
		CC: []string{"boss"},
	})
	if err != nil {
		e.t.Fatalf("submit %s: %v", key, err)
	}
	return res
}

func (e *env) approve(id string, r commands.Request) commands.TicketResult {
	e.t.Helper()
	res, err := e.svc.ApproveTask(context.Background(), commands.ApproveTask{Request: r, TicketID: id})
	if err != nil {
		e.t.Fatalf("%s approves %s: %v", r.Caller.ID, id, err)
	}
	return res
}

func (e *env) checkpoint(name string) eventstore.Position {
	e.t.Helper()
	var s string
	if err := e.pool.QueryRow(context.Background(), `SELECT position FROM projection_checkpoints WHERE name = $1`, name).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) status(name string) projections.Status {
	e.t.Helper()
	all, err := e.runner.Status(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	e.t.Fatalf("no status of %s", name)
	return projections.Status{}
}

// eventually polls cond until it holds or 30 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failing wraps a projection and fails on the events of one stream while armed.
type failing struct {
	projections.Projection
	mu     sync.Mutex
	stream string
}

func (f *failing) arm(stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stream = stream
}

var errPoison = errors.New("poisoned event")

func (f *failing) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	f.mu.Lock()
	armed := f.stream != "" && f.stream == ev.Stream
	f.mu.Unlock()
	if armed {
		return errPoison
	}
	return f.Projection.Apply(ctx, tx, ev)
}
