package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// BenchmarkCommands serves, per iteration, a refund's four commands (the shop's submission
// and three approvals) through the API's handler in process, on the PostgreSQL store with
// its read side running, from 32 goroutines per CPU (64 on two cores, as ticketbench
// drives ticketd), so that appends share group commits and the projector writes batches
// as under load. It reports the handler's throughput as time per command, and that time
// as a multiple of a baseline measured in the same run: the same handler serving
// GET /healthz (the same middleware, a JSON answer), one request at a time. B/op and
// allocs/op are per refund and count every goroutine of the process: the handler, the
// commands, the store's client, the projector and the principal index.
func BenchmarkCommands(b *testing.B) {
	url := pgtest.NewDatabase(b)
	store, err := pgstore.Open(context.Background(), url, pgstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	// The commands keep tickets' states between commands, as ticketd's do.
	s := start(b, store, url, func(c *api.Config) {
		c.Commands = commands.New(store, c.Definitions, commands.WithPrincipals(c.Principals.Get),
			commands.WithStateCache(commands.DefaultStateCacheSize))
	})
	shop, xiaoli, fang, chen := s.refundCast()

	// serve and refund report failures as errors: the refunds run on RunParallel's
	// goroutines, where b.Fatal must not be called.
	serve := func(method, path, token string, body []byte, want int) ([]byte, error) {
		// http.NewRequest, not httptest.NewRequest, which parses a request text with a
		// 4 kB reader of its own: what is measured is the handler's allocation.
		var rd io.Reader = http.NoBody
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://ticketd"+path, rd)
		if err != nil {
			return nil, err
		}
		req.RemoteAddr = "192.0.2.1:1234"
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		s.server.ServeHTTP(w, req)
		if w.Code != want {
			return nil, fmt.Errorf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body.Bytes())
		}
		return w.Body.Bytes(), nil
	}
	approve := []byte(`{"comment":"ok"}`)
	refund := func(i int) error {
		sub, err := json.Marshal(map[string]any{"process": "refund", "business_key": fmt.Sprintf("B-%d", i), "title": "Refund",
			"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("98.50", "bank_transfer")})
		if err != nil {
			return err
		}
		answer, err := serve("POST", "/v1/tickets", shop, sub, http.StatusCreated)
		if err != nil {
			return err
		}
		var res struct {
			TicketID string `json:"ticket_id"`
		}
		if err := json.Unmarshal(answer, &res); err != nil {
			return err
		}
		for _, who := range []string{xiaoli, fang, chen} {
			if _, err := serve("POST", "/v1/tickets/"+res.TicketID+"/approve", who, approve, http.StatusOK); err != nil {
				return err
			}
		}
		return nil
	}

	const baselineRequests = 20000
	began := time.Now()
	for range baselineRequests {
		if _, err := serve("GET", "/healthz", "", nil, http.StatusOK); err != nil {
			b.Fatal(err)
		}
	}
	baseline := time.Since(began) / baselineRequests
	if err := refund(-1); err != nil { // the first ticket compiles and caches what later ones reuse
		b.Fatal(err)
	}

	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32) // 64 clients on two cores, as ticketbench drives it
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := refund(int(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	perCommand := b.Elapsed() / time.Duration(4*b.N)
	b.ReportMetric(float64(perCommand.Nanoseconds()), "ns/command")
	b.ReportMetric(float64(perCommand)/float64(baseline), "command/healthz")
	b.ReportMetric(float64(baseline.Nanoseconds()), "ns/healthz")
}
