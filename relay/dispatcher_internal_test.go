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
	"github.com/google/uuid"
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
		if err := s.enqueue(ctx, testMessage(fmt.Sprintf("t%d", i), uint64(10+i)), 0); err != nil {
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

// TestIntakeLeavesAnotherInstallationsOutcomes: a dispatcher hands back, unrecorded, an
// outcome message published by another installation (two databases sharing one NATS
// stream by mistake), and records its own.
func TestIntakeLeavesAnotherInstallationsOutcomes(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if s.Installation() == (uuid.UUID{}) {
		t.Fatal("the store has no installation id")
	}
	ch := make(chan *message.Message)
	d, err := NewDispatcher(s, chanTransport{ch}, DispatcherConfig{Egress: egress.Policy{Allow: egress.Loopback}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	foreign, own := testMessage("t-foreign", 10), testMessage("t-own", 11)
	fm, om := foreign.watermill(uuid.New()), own.watermill(s.Installation())
	for _, m := range []*message.Message{fm, om} {
		select {
		case ch <- m:
		case <-time.After(10 * time.Second):
			t.Fatal("the dispatcher took no message")
		}
	}
	for _, c := range []struct {
		what string
		done <-chan struct{}
	}{{"the foreign message to be nacked", fm.Nacked()}, {"its own message to be acked", om.Acked()}} {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("waited in vain for %s", c.what)
		}
	}
	var foreignRows, ownRows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE event_id = $1), count(*) FILTER (WHERE event_id = $2) FROM relay_messages`,
		foreign.EventID, own.EventID).Scan(&foreignRows, &ownRows); err != nil {
		t.Fatal(err)
	}
	if foreignRows != 0 || ownRows != 1 {
		t.Fatalf("recorded the foreign outcome %d times and its own %d times; want 0 and 1", foreignRows, ownRows)
	}
}

// chanTransport hands the dispatcher the messages sent on its channel.
type chanTransport struct{ ch chan *message.Message }

func (chanTransport) Publish(context.Context, pgx.Tx, ...*message.Message) error { return nil }
func (t chanTransport) Subscribe(context.Context) (<-chan *message.Message, error) {
	return t.ch, nil
}
func (chanTransport) Close() error { return nil }
