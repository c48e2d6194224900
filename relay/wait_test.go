package relay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/relay"
)

// TestWaitFor waits for the relay's progress: at once for a position with nothing to
// relay before it, until the bound for an outcome the relay has not recorded (it is not
// running), and until the relay, started, records it.
func TestWaitFor(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := relay.New(h.events, h.store, h.sqlTransport(), relay.RelayConfig{RetryDelay: 100 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	last := func(id string) eventstore.Position {
		t.Helper()
		evs, err := h.events.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Count: 1})
		if err != nil || len(evs) != 1 {
			t.Fatalf("the last event of %s: %v %v", id, evs, err)
		}
		return evs[0].Position
	}

	id := h.submit("W-1")
	submitted := last(id)
	if err := r.WaitFor(ctx, submitted, time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("a submission, nothing to relay before it: %v", err)
	}

	if err := h.decide(0, id); err != nil {
		t.Fatal(err)
	}
	approved := last(id)
	began := time.Now()
	err = r.WaitFor(ctx, approved, 200*time.Millisecond, 10*time.Millisecond)
	var de *domain.Error
	if !errors.Is(err, relay.ErrWaitTimeout) || !errors.As(err, &de) || de.Kind != domain.Unavailable || de.Code != "projection-behind" {
		t.Fatalf("an outcome not relayed: %v", err)
	}
	if waited := time.Since(began); waited < 200*time.Millisecond {
		t.Fatalf("gave up after %s, before the bound", waited)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.WaitFor(cancelled, approved, time.Second, 10*time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}

	runUntilEnd(t, "relay", r.Run)
	if err := r.WaitFor(ctx, approved, 10*time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("the outcome, relay running: %v", err)
	}
	os, err := h.store.Outcomes(ctx, id)
	if err != nil || len(os) != 1 || os[0].Outcome != relay.OutcomeApproved {
		t.Fatalf("the outcome once waited for: %+v %v", os, err)
	}
	later := h.submit("W-2")
	if err := r.WaitFor(ctx, last(later), time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("a submission after the relayed outcome: %v", err)
	}
}
