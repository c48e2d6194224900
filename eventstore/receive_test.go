package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// TestReceive: a ready message comes at once whatever the wait; otherwise the first
// within the wait; none when the wait passes or the context ends; a closed channel
// reports it.
func TestReceive(t *testing.T) {
	ctx := context.Background()
	msgs := make(chan eventstore.Message, 1)
	at := func(n uint64) eventstore.Message {
		return eventstore.Message{Kind: eventstore.CheckpointMessage, Position: eventstore.MakePosition(n, 0)}
	}

	msgs <- at(1)
	if m, got, open := eventstore.Receive(ctx, msgs, 0); !got || !open || m.Position != at(1).Position {
		t.Fatalf("ready message: %v got %v open %v", m.Position, got, open)
	}
	if _, got, open := eventstore.Receive(ctx, msgs, 0); got || !open {
		t.Fatalf("nothing ready, no wait: got %v open %v", got, open)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		msgs <- at(2)
	}()
	if m, got, open := eventstore.Receive(ctx, msgs, 30*time.Second); !got || !open || m.Position != at(2).Position {
		t.Fatalf("message within the wait: %v got %v open %v", m.Position, got, open)
	}
	began := time.Now()
	if _, got, open := eventstore.Receive(ctx, msgs, 50*time.Millisecond); got || !open || time.Since(began) < 50*time.Millisecond {
		t.Fatalf("wait passed: got %v open %v after %s", got, open, time.Since(began))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	began = time.Now()
	if _, got, open := eventstore.Receive(cancelled, msgs, 30*time.Second); got || !open || time.Since(began) > 10*time.Second {
		t.Fatalf("context ended: got %v open %v after %s", got, open, time.Since(began))
	}
	close(msgs)
	if _, got, open := eventstore.Receive(ctx, msgs, 30*time.Second); got || open {
		t.Fatalf("closed: got %v open %v", got, open)
	}
}
