package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/domain/ticket/tickettest"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
)

// definitions serves one fixed process, expense (version 3): one node, "lead", decided by
// ann alone.
var definitions = tickettest.Definitions{{ProcessKey: "expense", ProcessVersion: 3,
	Nodes: []ticket.Node{{Key: "lead", Mode: ticket.OneOf, Handlers: []string{"ann"}}}}}

var shop = commands.Caller{ID: "svc-shop", System: "shop", Roles: []string{commands.RoleSystem}}

// logger reports the relay's errors on stderr; expected failures are logged below Error.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// harness is a database with an event store, the command side and the relay's store.
type harness struct {
	t      testing.TB
	url    string
	pool   *pgxpool.Pool
	events eventstore.Store
	svc    *commands.Service
	store  *relay.Store
	// recentBytes is the RelayConfig.RecentBytes of the relays start runs.
	recentBytes int
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	events, err := pgstore.New(ctx, pool, pgstore.Config{PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Close() })
	return newHarnessOn(t, url, pool, events)
}

func newHarnessOn(t testing.TB, url string, pool *pgxpool.Pool, events eventstore.Store) *harness {
	t.Helper()
	store, err := relay.NewStore(context.Background(), pool, relay.StoreConfig{Egress: egress.Policy{Allow: egress.Loopback}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, url: url, pool: pool, events: events, svc: commands.New(events, definitions), store: store}
}

func (h *harness) sqlTransport() relay.Transport {
	h.t.Helper()
	tr, err := relay.NewSQLTransport(context.Background(), h.pool, relay.SQLTransportConfig{PollInterval: 20 * time.Millisecond, Logger: logger})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { tr.Close() })
	return tr
}

// fastDispatch is a dispatcher configuration with a schedule of milliseconds.
func fastDispatch() relay.DispatcherConfig {
	return relay.DispatcherConfig{
		Schedule:     []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond},
		Timeout:      2 * time.Second,
		Lease:        3 * time.Second,
		PollInterval: 50 * time.Millisecond,
		Egress:       egress.Policy{Allow: egress.Loopback},
		Logger:       logger,
	}
}

// running is a relay and a dispatcher started together.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (h *harness) start(tr relay.Transport, dc relay.DispatcherConfig) *running {
	h.t.Helper()
	r, err := relay.New(h.events, h.store, tr, relay.RelayConfig{RetryDelay: 200 * time.Millisecond, RecentBytes: h.recentBytes, Logger: logger})
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := relay.NewDispatcher(h.store, tr, dc)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := r.Run(ctx); err != nil {
			h.t.Errorf("relay: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.Run(ctx); err != nil {
			h.t.Errorf("dispatcher: %v", err)
		}
	}()
	go func() {
		wg.Wait()
		close(run.done)
	}()
	h.t.Cleanup(run.stop)
	return run
}

// runUntilEnd runs f, a relay's or a dispatcher's Run, until the test ends, and reports
// an error it returns.
func runUntilEnd(t testing.TB, what string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

// register adds an endpoint of the shop system for rcv and tells rcv its secret.
func (h *harness) register(rcv *receiver, n relay.NewEndpoint) relay.Endpoint {
	h.t.Helper()
	if n.System == "" {
		n.System = "shop"
	}
	n.URL = rcv.srv.URL + "/hook"
	e, secret, err := h.store.RegisterEndpoint(context.Background(), n)
	if err != nil {
		h.t.Fatal(err)
	}
	rcv.setSecrets(secret.Reveal())
	return e
}

// submit opens a ticket of the shop and returns its id.
func (h *harness) submit(key string) string {
	h.t.Helper()
	res, err := h.svc.SubmitTicket(context.Background(), commands.SubmitTicket{
		Request: commands.Request{CommandID: uuid.New(), Caller: shop}, Process: "expense", BusinessKey: key,
		Submitter: ticket.Submitter{ID: "wang"}, Title: "Expense " + key,
		Fields: json.RawMessage(fmt.Sprintf(`{"amount":"12.50","key":%q}`, key)),
	})
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	return res.State.ID
}

// decide ends a ticket: approved, rejected or withdrawn as i mod 3.
func (h *harness) decide(i int, id string) error {
	ctx := context.Background()
	var err error
	switch i % 3 {
	case 0:
		_, err = h.svc.ApproveTask(ctx, commands.ApproveTask{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "ann"}}, TicketID: id, Comment: "ok"})
	case 1:
		_, err = h.svc.RejectTask(ctx, commands.RejectTask{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "ann"}}, TicketID: id, Comment: "no receipt"})
	default:
		_, err = h.svc.WithdrawTicket(ctx, commands.WithdrawTicket{Request: commands.Request{CommandID: uuid.New(), Caller: shop}, TicketID: id, Reason: "cancelled"})
	}
	return err
}

// outcomes submits and decides n tickets with up to par at once, and returns their ids.
func (h *harness) outcomes(n, par int) []string {
	h.t.Helper()
	ids := make([]string, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ids[i] = h.submit(uuid.NewString())
			if err := h.decide(i, ids[i]); err != nil {
				h.t.Errorf("decide ticket %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return ids
}

// received is one request a receiver got.
type received struct {
	id      string
	ts      string
	sig     string
	body    []byte
	at      time.Time
	payload relay.Payload
	// verified reports whether the reference Standard Webhooks library accepted it.
	verified error
}

// receiver is an httptest webhook receiver that verifies every request with the
// reference Standard Webhooks library and answers what respond says (204 by default).
type receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	secrets []string
	got     []received
	respond func(received, http.ResponseWriter) int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverAt starts a receiver on a given listener, verifying with secrets from its
// first request on.
func newReceiverAt(t testing.TB, l net.Listener, secrets ...string) *receiver {
	r := &receiver{secrets: secrets}
	r.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = s
}

func (r *receiver) setRespond(f func(received, http.ResponseWriter) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := received{
		id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"), sig: req.Header.Get("webhook-signature"),
		body: body, at: time.Now(),
	}
	rec.verified = fmt.Errorf("no secret")
	r.mu.Lock()
	secrets := r.secrets
	respond := r.respond
	r.mu.Unlock()
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			rec.verified = err
			break
		}
		if rec.verified = wh.Verify(body, req.Header); rec.verified == nil {
			break
		}
	}
	if err := json.Unmarshal(body, &rec.payload); err != nil {
		rec.verified = err
	}
	status := http.StatusNoContent
	if respond != nil {
		status = respond(rec, w)
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
	if status > 0 {
		w.WriteHeader(status)
	}
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// byID returns the requests received per webhook-id that the receiver answered with
// success, or all requests when accepted is nil.
func (r *receiver) distinct() map[string][]received {
	out := make(map[string][]received)
	for _, g := range r.all() {
		out[g.id] = append(out[g.id], g)
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveredCount returns the number of delivered deliveries of an endpoint.
func (h *harness) countState(endpoint uuid.UUID, state relay.DeliveryState) int {
	h.t.Helper()
	ds, err := h.store.Deliveries(context.Background(), relay.DeliveryQuery{EndpointID: endpoint, State: state, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ds)
}

// eachTicketOnce checks that rcv received every ticket of ids under one webhook-id of its
// own, every request verified by the reference library.
func eachTicketOnce(t *testing.T, rcv *receiver, ids []string) {
	t.Helper()
	perTicket := map[string]string{}
	for id, rs := range rcv.distinct() {
		for _, r := range rs {
			if r.verified != nil {
				t.Fatalf("%s: %v", id, r.verified)
			}
			if prev, ok := perTicket[r.payload.Data.TicketID]; ok && prev != id {
				t.Fatalf("ticket %s arrived under two webhook-ids", r.payload.Data.TicketID)
			}
			perTicket[r.payload.Data.TicketID] = id
		}
	}
	for _, id := range ids {
		if _, ok := perTicket[id]; !ok {
			t.Fatalf("ticket %s missing", id)
		}
	}
}
