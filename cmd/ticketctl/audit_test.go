package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// writtenMeanwhile is an event store whose log gains a ticket each time it is subscribed
// to, after its head was read: a writer appending while the verification runs.
type writtenMeanwhile struct {
	eventstore.Store
	t *testing.T
}

func (w writtenMeanwhile) Subscribe(ctx context.Context, from eventstore.Position, f eventstore.Filter) (eventstore.Subscription, error) {
	appendTicket(w.t, w.Store)
	return w.Store.Subscribe(ctx, from, f)
}

// appendTicket appends a ticket stream of one event, sealed as the first of its chain.
func appendTicket(t *testing.T, s eventstore.Store) {
	t.Helper()
	data := []byte(`{}`)
	md, _, err := envelope.Seal(envelope.Metadata{Schema: 1, Actor: "shop", CommandID: uuid.New(), Time: time.Now()},
		envelope.Genesis, ticket.TypeSubmitted, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), ticket.Stream(uuid.NewString()), eventstore.NoStream,
		eventstore.EventData{Type: ticket.TypeSubmitted, Data: data, Metadata: md}); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAllStopsAtTheHeadItStartedAt: `audit verify --all` verifies the log as it
// stands when it starts; a ticket appended while it runs is left for the next run, so that
// a busy log does not keep it verifying until the writers pause.
func TestVerifyAllStopsAtTheHeadItStartedAt(t *testing.T) {
	ctx := context.Background()
	store, err := pgstore.New(ctx, pgtest.NewPool(t), pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	appendTicket(t, store)
	appendTicket(t, store)

	var stdout, stderr bytes.Buffer
	o := &options{stdout: &stdout, stderr: &stderr}
	if err := verifyAll(ctx, o, &stores{store: writtenMeanwhile{store, t}, pg: true}); err != nil {
		t.Fatalf("verify: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "checked 2 tickets (2 events)") {
		t.Fatalf("verify, with a third ticket appended after it started, said:\n%s", stdout.String())
	}

	stdout.Reset()
	if err := verifyAll(ctx, o, &stores{store: store, pg: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "checked 3 tickets (3 events)") || !strings.Contains(stdout.String(), ": 3 intact, 0 broken") {
		t.Fatalf("the next verify said:\n%s", stdout.String())
	}
}
