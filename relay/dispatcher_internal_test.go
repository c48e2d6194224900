package relay

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/relay/egress"
)

// TestRoundStoppedWhileClaiming: a dispatcher stopped while its claim is in flight
// leaves no delivery leased. The claim may commit before its answer arrives; it is waited
// for, and what it claimed is given back unattempted, to be sent at once by the next
// round instead of a lease later.
func TestRoundStoppedWhileClaiming(t *testing.T) {
	ctx := context.Background()
	p, url := pgtest.NewProxy(t, pgtest.NewDatabase(t))
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	loopback := egress.Policy{Allow: egress.Loopback}
	s, err := NewStore(ctx, pool, StoreConfig{Egress: loopback})
	if err != nil {
		t.Fatal(err)
	}
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { received.Add(1) }))
	t.Cleanup(srv.Close)
	e, _, err := s.RegisterEndpoint(ctx, NewEndpoint{System: "shop", URL: srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := range n {
		if err := s.enqueue(ctx, nil, testMessage(fmt.Sprintf("t%d", i), uint64(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewDispatcher(s, nopTransport{}, DispatcherConfig{Egress: loopback, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.dispatchTarget(ctx, e.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// The database's answers now take 300ms to come back; the dispatcher stops 100ms
	// into its claim, which the database has committed by then.
	p.SetDelay(300 * time.Millisecond)
	stopping, stop := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, stop)
	attempted, _, err := d.round(stopping, tg)
	p.SetDelay(0)
	if err != nil || attempted != 0 {
		t.Fatalf("the stopped round attempted %d deliveries (%v), want none and no error", attempted, err)
	}
	var leased, claims, attempts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE lease_until IS NOT NULL), coalesce(sum(attempts), 0),
		(SELECT count(*) FROM relay_attempts) FROM relay_deliveries WHERE endpoint_id = $1`, e.ID).Scan(&leased, &claims, &attempts); err != nil {
		t.Fatal(err)
	}
	if leased != 0 || claims != 0 || attempts != 0 || received.Load() != 0 {
		t.Fatalf("after the stop: %d deliveries leased, %d attempt numbers taken, %d attempts recorded, %d requests received; want none",
			leased, claims, attempts, received.Load())
	}

	attempted, _, err = d.round(ctx, tg)
	if err != nil || attempted != n || received.Load() != n {
		t.Fatalf("the next round attempted %d of %d deliveries (%v), the receiver got %d", attempted, n, err, received.Load())
	}
}

// nopTransport is a transport that carries nothing, for tests of the dispatcher's rounds.
type nopTransport struct{}

func (nopTransport) Publish(context.Context, pgx.Tx, ...*message.Message) error { return nil }
func (nopTransport) Subscribe(context.Context) (<-chan *message.Message, error) {
	return make(chan *message.Message), nil
}
func (nopTransport) Close() error { return nil }
