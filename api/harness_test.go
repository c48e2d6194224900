package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
)

// stack is ticketd's API behind a real HTTP server, wired as cmd/ticketd wires it (the
// state cache on PostgreSQL included), but without the pacer, the relay, the scheduler and
// its reminders read model, which ticketd runs beside it.
type stack struct {
	t      testing.TB
	url    string
	admin  string
	store  eventstore.Store
	server *api.Server
	tokens map[string]string
}

type storeKind struct {
	name string
	// open returns the event store and the URL of a PostgreSQL database for read models.
	open func(t *testing.T) (eventstore.Store, string)
}

var storeKinds = []storeKind{
	{"pgstore", func(t *testing.T) (eventstore.Store, string) {
		url := pgtest.NewDatabase(t)
		s, err := pgstore.Open(context.Background(), url, pgstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, url
	}},
	{"esdb-double", func(t *testing.T) (eventstore.Store, string) {
		s, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, pgtest.NewDatabase(t)
	}},
}

func eachStore(t *testing.T, fn func(t *testing.T, s *stack)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			store, dbURL := k.open(t)
			fn(t, start(t, store, dbURL))
		})
	}
}

// start wires the service, the principal index, the read side (when dbURL is set) and the
// API over store, bootstraps the admin and serves over httptest. configure, if given,
// adjusts the API's configuration (e.g. adds the relay's store) before the server is made.
func start(t testing.TB, store eventstore.Store, dbURL string, configure ...func(*api.Config)) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	index := commands.NewPrincipalIndex(store, nil)
	defs := commands.NewProcessDefinitions(store, index.Directory).Following(index.ProcessStreamVersion)
	opts := []commands.Option{commands.WithPrincipals(index.Get)}
	if _, ok := store.(*pgstore.Store); ok {
		// As ticketd: on PostgreSQL, commands fold a ticket from its cached state.
		opts = append(opts, commands.WithStateCache(commands.DefaultStateCacheSize))
	}
	svc := commands.New(store, defs, opts...)
	done := make(chan struct{})
	go func() { defer close(done); _ = index.Run(ctx) }()
	cfg := api.Config{Commands: svc, Definitions: defs, Principals: index, WaitTimeout: 10 * time.Second, MaxBodyBytes: 64 << 10}
	var runDone chan struct{}
	if dbURL != "" {
		pool := pgtestPool(t, dbURL)
		auditLog := audit.New(store)
		rs := &api.ReadSide{Tickets: projections.NewTickets(pool), Workbench: projections.NewWorkbench(pool),
			Timeline: projections.NewTimeline(auditLog), Statistics: projections.NewStatistics(pool),
			Delegations: projections.NewDelegations(pool), Audit: auditLog}
		runner, err := projections.NewRunner(pool, store, projections.Config{}, rs.Tickets, rs.Delegations)
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		rs.Runner = runner
		cfg.ReadSide = rs
		runDone = make(chan struct{})
		go func() { defer close(runDone); _ = runner.Run(ctx) }()
	}
	boot, created, err := svc.Bootstrap(ctx, commands.Bootstrap{})
	if err != nil || !created {
		t.Fatalf("bootstrap: %v (created %v)", err, created)
	}
	if err := index.WaitFor(ctx, boot.Position); err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		if runDone != nil {
			<-runDone
		}
	})
	return &stack{t: t, url: hs.URL, admin: boot.Secret, store: store, server: srv, tokens: map[string]string{}}
}

// response is an HTTP answer with its decoded JSON body.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(key string) string {
	v, _ := r.body[key].(string)
	return v
}

// call sends a request with token (empty: none); body is JSON-encoded unless it is a
// string or []byte, sent as is with contentType.
func (s *stack) call(method, path, token string, body any, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// must fails the test unless r has status want.
func (s *stack) must(r response, want int, what string) response {
	s.t.Helper()
	if r.status != want {
		s.t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.raw)
	}
	return r
}

// principal creates a principal as the admin and returns a token for it.
func (s *stack) principal(id, kind, system string, roles ...string) string {
	s.t.Helper()
	body := map[string]any{"id": id, "kind": kind, "roles": roles}
	if system != "" {
		body["system"] = system
	}
	s.must(s.call("POST", "/v1/principals", s.admin, body), http.StatusCreated, "create "+id)
	tok := s.must(s.call("POST", "/v1/principals/"+id+"/tokens", s.admin, map[string]any{"label": "test"}), http.StatusCreated, "token for "+id)
	s.tokens[id] = tok.str("token")
	return tok.str("token")
}

// refundCast publishes the example processes and creates the refund's cast: the shop's
// service principal and its three approvers. It returns their tokens.
func (s *stack) refundCast() (shop, xiaoli, fang, chen string) {
	s.publishExamples()
	return s.principal("svc-shop", "service", "shop", "system"),
		s.principal("xiaoli", "user", "", "customer-service", "approver"),
		s.principal("fang", "user", "", "finance", "approver"),
		s.principal("chen", "user", "", "cashier", "approver")
}
