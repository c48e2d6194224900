package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// testVisibilityWait is ReadAll's wait for the horizon in tests that set none: the
// PostgreSQL cluster is shared with every other test running at once, whose
// transactions hold the horizon back for longer than in a quiet deployment.
const testVisibilityWait = 10 * time.Second

// openStore opens a Store on a fresh database and closes it when tb ends.
func openStore(tb testing.TB, cfg Config) (*Store, string) {
	tb.Helper()
	if cfg.VisibilityWait == 0 {
		cfg.VisibilityWait = testVisibilityWait
	}
	url := pgtest.NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, url
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// newEvents returns n events of the given type with distinct small JSON bodies.
func newEvents(typ string, n int) []eventstore.EventData {
	events := make([]eventstore.EventData, n)
	for i := range events {
		events[i] = eventstore.EventData{
			Type:     typ,
			Data:     fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata: []byte(`{"actor":"test"}`),
		}
	}
	return events
}

func mustAppend(tb testing.TB, s *Store, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) eventstore.AppendResult {
	tb.Helper()
	res, err := s.Append(testContext(tb), stream, expected, events...)
	if err != nil {
		tb.Fatalf("Append(%q, %s): %v", stream, expected, err)
	}
	return res
}

// receive returns the next message of sub, failing the test after timeout.
func receive(tb testing.TB, sub eventstore.Subscription, timeout time.Duration) eventstore.Message {
	tb.Helper()
	select {
	case m, ok := <-sub.Messages():
		if !ok {
			tb.Fatalf("subscription ended: %v", sub.Err())
		}
		return m
	case <-time.After(timeout):
		tb.Fatalf("no message within %v", timeout)
	}
	return eventstore.Message{}
}

// receiveEvent returns the next event of sub, skipping checkpoints and CaughtUp.
func receiveEvent(tb testing.TB, sub eventstore.Subscription, timeout time.Duration) *eventstore.RecordedEvent {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := receive(tb, sub, time.Until(deadline))
		if m.Kind == eventstore.EventMessage {
			return m.Event
		}
	}
}

// expectQuiet fails if sub delivers an event within d.
func expectQuiet(tb testing.TB, sub eventstore.Subscription, d time.Duration) {
	tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				tb.Fatalf("subscription ended: %v", sub.Err())
			}
			if m.Kind == eventstore.EventMessage {
				tb.Fatalf("unexpected event %s v%d at %s", m.Event.Stream, m.Event.Version, m.Position)
			}
		case <-deadline:
			return
		}
	}
}
