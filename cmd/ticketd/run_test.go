package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRun starts ticketd on each event store, waits for /readyz, reads /openapi.json,
// checks that the first admin token is printed once and works, and shuts down on
// cancellation.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"pgstore", func(t *testing.T) map[string]string { return map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)} }},
		{"pgstore-own-database", func(t *testing.T) map[string]string {
			return map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "EVENTSTORE_URL": pgtest.NewDatabase(t)}
		}},
		{"esdb-double", func(t *testing.T) map[string]string {
			return map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "EVENTSTORE_URL": esdbtest.Start(t).URL()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := tc.env(t)
			addr := freeAddr(t)
			env["TICKETD_ADDR"] = addr
			pprofAddr := freeAddr(t)
			env["TICKETD_PPROF_ADDR"] = pprofAddr
			d := startDaemon(env)
			defer d.stop(t)
			out := &d.out
			base := "http://" + addr
			waitReady(t, base, out)
			res, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("profiler: %v %v", res, err)
			}
			res.Body.Close()
			if res, err := http.Get(base + "/debug/pprof/"); err != nil || res.StatusCode == http.StatusOK {
				t.Fatalf("the API serves the profiler: %v %v", res, err)
			} else {
				res.Body.Close()
			}
			res, err = http.Get(base + "/openapi.json")
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("openapi.json: %v %v", res, err)
			}
			res.Body.Close()
			logs := out.String()
			_, after, ok := strings.Cut(logs, "shown this once (only its hash is stored):")
			if !ok {
				t.Fatalf("no admin token printed:\n%s", logs)
			}
			token := strings.Fields(after)[0]
			req, _ := http.NewRequest("GET", base+"/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err = http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("the printed token: %v %v", res, err)
			}
			res.Body.Close()
			req, _ = http.NewRequest("GET", base+"/v1/workbench/pending?min_position=0/1", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err = http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("a workbench read with min_position: %v %v", res, err)
			}
			res.Body.Close()
			res, err = http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := []string{"ticketledger_http_request_duration_seconds", "ticketledger_projection_lag_events",
				`ticketledger_read_wait_seconds_count{outcome="reached",projection="tickets"} 1`,
				`ticketledger_store_duration_seconds_count{op="append"}`}
			if logURL := env["EVENTSTORE_URL"]; logURL == "" || isPostgresURL(logURL) {
				want = append(want, "ticketledger_store_append_groups_total", "ticketledger_store_grouped_appends_total")
			}
			for _, metric := range want {
				if !strings.Contains(string(b), metric) {
					t.Fatalf("metrics lack %s:\n%s", metric, b)
				}
			}
			if logURL := env["EVENTSTORE_URL"]; isPostgresURL(logURL) {
				// The log is in its own database; the read models' holds none.
				var logged int
				var elsewhere bool
				if err := queryRow(t, logURL, `SELECT count(*) FROM events`, &logged); err != nil || logged == 0 {
					t.Fatalf("the event-store database holds %d events: %v", logged, err)
				}
				if err := queryRow(t, env["DATABASE_URL"], `SELECT to_regclass('public.events') IS NOT NULL`, &elsewhere); err != nil || elsewhere {
					t.Fatalf("the read-model database has an events table (%v): %v", elsewhere, err)
				}
			}
		})
	}
}

func TestRelayConfig(t *testing.T) {
	c, err := parseConfig([]string{"--relay-transport", "nats", "--webhook-allow", "127.0.0.0/8, ::1/128"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.relayTransport != "nats" || c.natsTopic != "ticket-outcomes" || len(c.webhookAllow) != 2 || c.webhookAllow[0].String() != "127.0.0.0/8" {
		t.Fatalf("relay settings: %+v, %v", c, err)
	}
	if c, err := parseConfig(nil, func(k string) string { return map[string]string{"TICKETD_NATS_TOPIC": "outcomes-staging"}[k] }, io.Discard); err != nil ||
		c.natsTopic != "outcomes-staging" {
		t.Fatalf("NATS topic from the environment: %q, %v", c.natsTopic, err)
	}
	if len(c.webhookSchedule) != 0 || c.webhookTimeout != 0 || c.webhookRetention != 0 {
		t.Fatalf("the relay's retry schedule, timeout and retention are its defaults unless given: %v, %s, %s", c.webhookSchedule, c.webhookTimeout, c.webhookRetention)
	}
	c, err = parseConfig([]string{"--webhook-timeout", "5s", "--webhook-retention", "720h"}, func(k string) string {
		return map[string]string{"TICKETD_WEBHOOK_SCHEDULE": "0s, 10s,1m30s"}[k]
	}, io.Discard)
	if err != nil || c.webhookTimeout != 5*time.Second || len(c.webhookSchedule) != 3 || c.webhookSchedule[2] != 90*time.Second ||
		c.webhookRetention != 720*time.Hour {
		t.Fatalf("webhook schedule, timeout and retention: %v, %s, %s, %v", c.webhookSchedule, c.webhookTimeout, c.webhookRetention, err)
	}
	for _, args := range [][]string{{"--relay-transport", "kafka"}, {"--webhook-allow", "localhost"},
		{"--webhook-schedule", "10s,soon"}, {"--nats-topic", "ticket.outcomes"}, {"--webhook-schedule", "-1s"}, {"--webhook-timeout", "0s"}, {"--webhook-retention", "90d"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}

func TestSecretKeyConfig(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	env := func(v string) func(string) string {
		return func(k string) string { return map[string]string{"TICKETD_SECRET_KEY": v}[k] }
	}
	if c, err := parseConfig(nil, env(""), io.Discard); err != nil || c.secretKey != nil {
		t.Fatalf("no key: %x, %v", c.secretKey, err)
	}
	if c, err := parseConfig(nil, env(key), io.Discard); err != nil || len(c.secretKey) != 32 {
		t.Fatalf("key from the environment: %x, %v", c.secretKey, err)
	}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := parseConfig([]string{"--secret-key-file", file}, env(""), io.Discard); err != nil || len(c.secretKey) != 32 {
		t.Fatalf("key from a file: %x, %v", c.secretKey, err)
	}
	for _, bad := range []struct {
		args []string
		env  string
	}{{nil, "c2hvcnQ="}, {nil, "not base64!"}, {[]string{"--secret-key-file", file}, key},
		{[]string{"--secret-key-file", filepath.Join(t.TempDir(), "missing")}, ""}} {
		if _, err := parseConfig(bad.args, env(bad.env), io.Discard); err == nil {
			t.Fatalf("%v with TICKETD_SECRET_KEY=%q accepted", bad.args, bad.env)
		}
	}
}

func TestConfig(t *testing.T) {
	c, err := parseConfig([]string{"--roles", "api, projector"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.addr != ":8080" || !c.embedded || c.databaseURL != DefaultDatabaseURL || !c.has(roleAPI) || c.has(roleRelay) {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = parseConfig(nil, func(k string) string {
		return map[string]string{"TICKETD_ADDR": ":9090", "DATABASE_URL": "postgres://x@h/db", "EVENTSTORE_URL": "esdb://h:2113"}[k]
	}, io.Discard)
	if err != nil || c.addr != ":9090" || c.embedded || c.eventstoreURL != "esdb://h:2113" || len(c.roles) != 4 || !c.has(roleScheduler) {
		t.Fatalf("environment: %+v, %v", c, err)
	}
	c, err = parseConfig([]string{"--addr", ":7070"}, func(k string) string { return map[string]string{"TICKETD_ADDR": ":9090"}[k] }, io.Discard)
	if err != nil || c.addr != ":7070" {
		t.Fatalf("a flag beats the environment: %+v, %v", c, err)
	}
	for _, args := range [][]string{{"--roles", "web"}, {"--roles", ","}, {"--log-level", "loud"}, {"--shutdown-timeout", "-1s"}, {"extra"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// queryRow runs one query on the database at url and scans its row into dest.
func queryRow(t *testing.T, url, sql string, dest ...any) error {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), sql).Scan(dest...)
}

func TestReadLagBoundConfig(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig(nil, none, io.Discard)
	if err != nil || c.readLagBound != 100*time.Millisecond {
		t.Fatalf("default read lag bound: %s, %v", c.readLagBound, err)
	}
	c, err = parseConfig([]string{"--read-lag-bound", "0"}, none, io.Discard)
	if err != nil || c.readLagBound != 0 {
		t.Fatalf("read lag bound 0 (off): %s, %v", c.readLagBound, err)
	}
	c, err = parseConfig(nil, func(k string) string { return map[string]string{"TICKETD_READ_LAG_BOUND": "250ms"}[k] }, io.Discard)
	if err != nil || c.readLagBound != 250*time.Millisecond {
		t.Fatalf("read lag bound from the environment: %s, %v", c.readLagBound, err)
	}
	if c, err := parseConfig([]string{"--read-lag-bound", "0s"}, none, io.Discard); err != nil || c.readLagBound != 0 {
		t.Fatalf("read lag bound 0s (off): %s, %v", c.readLagBound, err)
	}
	for _, v := range []string{"-1s", "soon"} {
		if _, err := parseConfig([]string{"--read-lag-bound", v}, none, io.Discard); err == nil {
			t.Fatalf("read lag bound %q accepted", v)
		}
	}
}

func TestPreviousSecretKeysConfig(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  // 32 bytes
	prev := "YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=" // 32 bytes
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := parseConfig(nil, env("TICKETD_SECRET_KEY", key, "TICKETD_PREVIOUS_SECRET_KEYS", prev+", "+key), io.Discard)
	if err != nil || len(c.previousKeys) != 2 || len(c.previousKeys[0]) != 32 {
		t.Fatalf("previous keys from the environment: %d, %v", len(c.previousKeys), err)
	}
	file := filepath.Join(t.TempDir(), "previous")
	if err := os.WriteFile(file, []byte(prev+"\n\n"+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = parseConfig([]string{"--previous-secret-key-file", file}, env("TICKETD_SECRET_KEY", key), io.Discard)
	if err != nil || len(c.previousKeys) != 2 {
		t.Fatalf("previous keys from a file: %d, %v", len(c.previousKeys), err)
	}
	for _, bad := range []struct {
		args []string
		env  func(string) string
	}{
		{nil, env("TICKETD_PREVIOUS_SECRET_KEYS", prev)}, // no current key
		{nil, env("TICKETD_SECRET_KEY", key, "TICKETD_PREVIOUS_SECRET_KEYS", "c2hvcnQ=")},
		{[]string{"--previous-secret-key-file", file}, env("TICKETD_SECRET_KEY", key, "TICKETD_PREVIOUS_SECRET_KEYS", prev)},
		{[]string{"--previous-secret-key-file", filepath.Join(t.TempDir(), "missing")}, env("TICKETD_SECRET_KEY", key)},
	} {
		if _, err := parseConfig(bad.args, bad.env, io.Discard); err == nil {
			t.Fatalf("%v accepted", bad.args)
		}
	}
}

// TestEnsureDatabaseRefused: a server that answers and refuses the embedded default's user
// is said to refuse it, not to be missing.
func TestEnsureDatabaseRefused(t *testing.T) {
	err := ensureDatabase(context.Background(), "postgres://no_such_role_ticketd@127.0.0.1:5432/ticketledger?sslmode=disable")
	if err == nil {
		t.Fatal("a role that does not exist connected")
	}
	if got := err.Error(); !strings.HasPrefix(got, `the PostgreSQL at 127.0.0.1:5432 refused user "no_such_role_ticketd"`) {
		t.Fatalf("%q", got)
	}
}

// TestEnsureDatabaseCreates creates the default database where it is missing, and leaves
// it be when it is there.
func TestEnsureDatabaseCreates(t *testing.T) {
	name := fmt.Sprintf("ticketd_ensure_%d", time.Now().UnixNano())
	url := "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
	admin, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	})
	exists := func() bool {
		var ok bool
		if err := admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if exists() {
		t.Fatalf("database %s is there before the test", name)
	}
	for range 2 {
		if err := ensureDatabase(context.Background(), url); err != nil {
			t.Fatal(err)
		}
		if !exists() {
			t.Fatalf("database %s was not created", name)
		}
	}
}

// TestShutdownFinishesInFlight stops ticketd while a read waits for a position the read
// models have not reached: the read still gets its whole answer (503 projection-behind
// once its bound passes), then run returns without error and the address takes no more
// requests.
func TestShutdownFinishesInFlight(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "TICKETD_ADDR": freeAddr(t)}
	d := startDaemon(env)
	defer d.cancel()
	out := &d.out
	base := "http://" + env["TICKETD_ADDR"]
	waitReady(t, base, out)
	token := regexp.MustCompile(`tlk_[A-Za-z0-9_-]+`).FindString(out.String())
	if token == "" {
		t.Fatalf("no admin token in\n%s", out.String())
	}
	type answer struct {
		status int
		body   []byte
		err    error
	}
	inFlight := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+"/v1/workbench?min_position=999999999/999999999", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		inFlight <- answer{status: res.StatusCode, body: b, err: err}
	}()
	time.Sleep(500 * time.Millisecond) // the read is waiting
	d.cancel()
	a := <-inFlight
	if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "projection-behind") {
		t.Fatalf("the read in flight at shutdown: %d %s %v", a.status, a.body, a.err)
	}
	awaitStop(t, d.done)
	if res, err := http.Get(base + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatalf("a request after the shutdown was answered: %d", res.StatusCode)
	}
	if !strings.Contains(out.String(), "ticketd stopped") {
		t.Fatalf("no stop in the log:\n%s", out.String())
	}
}

// TestHealthcheck asks a running ticketd's /readyz as the container's health check does:
// by TICKETD_ADDR, and by URL; nothing listening is an error naming the address.
func TestHealthcheck(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	env := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "TICKETD_ADDR": ":" + port}
	d := startDaemon(env)
	defer d.stop(t)
	out := &d.out
	var buf bytes.Buffer
	deadline := time.Now().Add(30 * time.Second)
	for healthcheck(context.Background(), nil, func(k string) string { return env[k] }, &buf) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("never healthy:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "http://127.0.0.1:"+port+"/readyz: 200 OK") {
		t.Fatalf("healthy, said %q", buf.String())
	}
	if err := healthcheck(context.Background(), []string{"http://127.0.0.1:" + port + "/readyz"}, nil, io.Discard); err != nil {
		t.Fatalf("by URL: %v", err)
	}
	closed := freeAddr(t)
	if err := healthcheck(context.Background(), nil, func(string) string { return closed }, io.Discard); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("nothing listening: %v", err)
	}
	if err := healthcheck(context.Background(), []string{"http://127.0.0.1:" + port + "/nowhere"}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a route that is not there: %v", err)
	}
}

// waitReady waits, 30 s at most, until the ticketd at base answers /readyz with 200; out
// is its log, shown if it never does.
func waitReady(t *testing.T, base string, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%d %s", res.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitStop waits, 30 s at most, for run to return after its context ended, and reports
// its error.
func awaitStop(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("ticketd did not stop")
	}
}

// daemon is ticketd's run in a goroutine of a test, on env for its environment.
type daemon struct {
	out    syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startDaemon starts run with env; the caller stops it (stop) when the test ends.
func startDaemon(env map[string]string) *daemon {
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- run(ctx, nil, func(k string) string { return env[k] }, &d.out) }()
	return d
}

// stop ends run's context and waits for it to return (awaitStop).
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	awaitStop(t, d.done)
}
