package projections

import (
	"context"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// event returns the subscription message of an event at position n.
func event(n uint64) eventstore.Message {
	pos := eventstore.MakePosition(n, 0)
	return eventstore.Message{Kind: eventstore.EventMessage, Position: pos,
		Event: &eventstore.RecordedEvent{Stream: "ticket-1", Version: n, Type: "t", Position: pos}}
}

// TestCollectHold: once caught up, collect writes what is ready at once when hold has
// passed (a Spaced projection after a quiet spell, or any other), and otherwise gathers
// the events that arrive until hold, or until the batch is full.
func TestCollectHold(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("hold passed", func(t *testing.T) {
		msgs := make(chan eventstore.Message, 4)
		msgs <- event(1)
		b, open := collect(ctx, msgs, eventstore.Start, 10, time.Hour, true, time.Now().Add(-time.Second), nil)
		if !open || len(b.events) != 1 || b.pos != eventstore.MakePosition(1, 0) {
			t.Fatalf("batch of %d events up to %s (open %v), want the one ready", len(b.events), b.pos, open)
		}
		if ctx.Err() != nil {
			t.Fatal("collect waited although hold had passed")
		}
	})

	t.Run("gathers until hold", func(t *testing.T) {
		msgs := make(chan eventstore.Message)
		hold := time.Now().Add(300 * time.Millisecond)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for n := uint64(1); n <= 3; n++ {
				msgs <- event(n)
				time.Sleep(20 * time.Millisecond)
			}
		}()
		b, open := collect(ctx, msgs, eventstore.Start, 10, 0, true, hold, nil)
		<-sent
		if !open || len(b.events) != 3 || b.pos != eventstore.MakePosition(3, 0) {
			t.Fatalf("batch of %d events up to %s (open %v), want all 3 sent before hold", len(b.events), b.pos, open)
		}
		if time.Now().Before(hold) {
			t.Fatal("collect returned before hold with room in the batch")
		}
	})

	t.Run("full before hold", func(t *testing.T) {
		msgs := make(chan eventstore.Message, 8)
		for n := uint64(1); n <= 5; n++ {
			msgs <- event(n)
		}
		b, open := collect(ctx, msgs, eventstore.Start, 3, 0, true, time.Now().Add(time.Hour), nil)
		if !open || len(b.events) != 3 || b.pos != eventstore.MakePosition(3, 0) {
			t.Fatalf("batch of %d events up to %s (open %v), want the first 3", len(b.events), b.pos, open)
		}
	})

	t.Run("not caught up", func(t *testing.T) {
		// Before catching up, hold plays no part: linger alone bounds the wait.
		msgs := make(chan eventstore.Message, 1)
		msgs <- event(1)
		b, open := collect(ctx, msgs, eventstore.Start, 10, time.Millisecond, false, time.Now().Add(time.Hour), nil)
		if !open || len(b.events) != 1 {
			t.Fatalf("batch of %d events (open %v), want the one ready after the linger", len(b.events), open)
		}
		if ctx.Err() != nil {
			t.Fatal("collect waited for hold before catching up")
		}
	})
}
