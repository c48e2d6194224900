package projections_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// held wraps a projection whose Apply waits while it is held.
type held struct {
	projections.Projection
	mu      sync.Mutex
	release chan struct{} // nil while not held
}

func (h *held) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release = make(chan struct{})
}

func (h *held) let() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release)
	h.release = nil
}

func (h *held) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Projection.Apply(ctx, tx, ev)
}

// pacerBound is the bound of the pacers of pacedTickets.
const pacerBound = 50 * time.Millisecond

// pacedTickets starts the tickets projection, held at will, with a Pacer of pacerBound.
func pacedTickets(t *testing.T) (*env, *held, *projections.Runner, *projections.Pacer) {
	t.Helper()
	e := newEnv(t)
	h := &held{Projection: projections.NewTickets(e.pool)}
	r := e.start(e.config(), h)
	return e, h, r, projections.NewPacer(r, projections.TicketsName, pacerBound)
}

// TestPacer: a writer waits while the projection has not passed what was appended more
// than the bound ago, and only then; a nil Pacer never waits.
func TestPacer(t *testing.T) {
	t.Parallel()
	e, h, r, p := pacedTickets(t)
	ctx := context.Background()
	if projections.NewPacer(r, projections.TicketsName, 0) != nil {
		t.Fatal("a pacer without a bound")
	}
	var none *projections.Pacer
	none.Appended(eventstore.Position{})
	if d, err := none.Hold().Wait(ctx); d != 0 || err != nil {
		t.Fatal(d, err)
	}
	waited := func() time.Duration {
		t.Helper()
		start := time.Now()
		d, err := p.Hold().Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); d > took {
			t.Fatalf("Wait reports %s after %s", d, took)
		}
		return time.Since(start)
	}

	// Caught up: no wait, however old the appends.
	first := e.submit("order-pace-1", "10.00", "original")
	p.Appended(first.Position)
	e.sync(projections.TicketsName)
	time.Sleep(2 * pacerBound)
	if d := waited(); d > 250*time.Millisecond {
		t.Fatalf("waited %s with the projection caught up", d)
	}

	// Behind, within the bound: no wait.
	h.hold()
	second := e.submit("order-pace-2", "20.00", "original")
	p.Appended(second.Position)
	noted := time.Now()
	if d := waited(); d > 250*time.Millisecond && time.Since(noted)-d < pacerBound {
		t.Fatalf("waited %s for an append younger than the bound", d)
	}

	// Behind by more than the bound: the writer waits until the projection passes it.
	time.Sleep(2 * pacerBound)
	const holdFor = 300 * time.Millisecond
	go func() {
		time.Sleep(holdFor)
		h.let()
	}()
	d := waited()
	if d < holdFor-50*time.Millisecond {
		t.Fatalf("waited %s while the projection was held for %s", d, holdFor)
	}
	err := r.WaitFor(ctx, projections.TicketsName, second.Position, time.Millisecond)
	if d < time.Second && err != nil {
		t.Fatalf("the wait ended after %s, before the projection passed the append: %v", d, err)
	}
	if err != nil && !errors.Is(err, projections.ErrWaitTimeout) {
		t.Fatal(err)
	}
}

// TestPacerForgetsWhatItPassed: an append the projection's filter leaves out may not move
// its checkpoint at once (EventStoreDB checkpoints filtered subscriptions every so many
// events); a wait that found it passed does not wait for it again.
func TestPacerForgetsWhatItPassed(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := e.start(e.config(), e.standard()...)
		e.submit("order-pace-f", "10.00", "original")
		e.sync(projections.TicketsName)
		const bound = 20 * time.Millisecond
		p := projections.NewPacer(r, projections.TicketsName, bound)
		res, err := e.store.Append(ctx, "other-pace", eventstore.NoStream, eventstore.EventData{Type: "other.noted", Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		p.Appended(res.Position)
		time.Sleep(3 * bound)
		if _, err := p.Hold().Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if d, err := p.Hold().Wait(ctx); d != 0 || err != nil {
			t.Fatalf("waited %s (%v) again for what the last wait passed", d, err)
		}
	})
}

// TestPacerHold: a Hold is what was due when it was taken. Waited for after the
// projection passed it, it does not wait; waited for while the projection is still held,
// it waits until the projection passes it, a second after it was taken at most; a Hold
// taken with nothing due owes nothing.
func TestPacerHold(t *testing.T) {
	t.Parallel()
	e, h, r, p := pacedTickets(t)
	ctx := context.Background()
	first := e.submit("order-hold-1", "10.00", "original")
	p.Appended(first.Position)
	e.sync(projections.TicketsName)
	if d, err := p.Hold().Wait(ctx); d != 0 || err != nil {
		t.Fatalf("a Hold taken with the projection caught up waited %s (%v)", d, err)
	}
	var none projections.Hold
	if d, err := none.Wait(ctx); d != 0 || err != nil {
		t.Fatalf("the zero Hold waited %s (%v)", d, err)
	}
	// owe holds the projection, appends a ticket older than the bound, and takes a Hold.
	owe := func(key string) (eventstore.Position, projections.Hold) {
		t.Helper()
		h.hold()
		res := e.submit(key, "20.00", "original")
		p.Appended(res.Position)
		time.Sleep(2 * pacerBound)
		return res.Position, p.Hold()
	}

	// Taken while an append older than the bound is not passed, then waited for once the
	// projection has passed it: no wait.
	_, owed := owe("order-hold-2")
	h.let()
	e.sync(projections.TicketsName)
	if d, err := owed.Wait(ctx); d != 0 || err != nil {
		t.Fatalf("waited %s (%v) for a position the projection had passed", d, err)
	}

	// Taken and waited for while the projection is held: the wait lasts until it passes.
	third, owed := owe("order-hold-3")
	const holdFor = 300 * time.Millisecond
	go func() {
		time.Sleep(holdFor)
		h.let()
	}()
	start := time.Now()
	d, err := owed.Wait(ctx)
	if err != nil || d < holdFor-50*time.Millisecond || d > time.Since(start) {
		t.Fatalf("waited %s (%v) while the projection was held for %s", d, err, holdFor)
	}
	if err := r.WaitFor(ctx, projections.TicketsName, third, time.Millisecond); d < time.Second && err != nil {
		t.Fatalf("the wait ended after %s, before the projection passed the append: %v", d, err)
	}

	// A Hold's second runs from when it was taken.
	_, owed = owe("order-hold-4")
	time.Sleep(time.Second)
	if d, err := owed.Wait(ctx); d != 0 || err != nil {
		t.Fatalf("a Hold taken a second ago waited %s (%v)", d, err)
	}
	h.let()
}
