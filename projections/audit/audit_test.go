package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/domain/ticket/tickettest"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections/audit"
)

// defs serves two-step: lead (one-of ann, bob), then boss (carl).
var defs = tickettest.Definitions{{ProcessKey: "two-step", Nodes: []ticket.Node{
	{Key: "lead", Mode: ticket.OneOf, Handlers: []string{"ann", "bob"}},
	{Key: "boss", Mode: ticket.OneOf, Handlers: []string{"carl"}},
}}}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func user(id string) commands.Request {
	return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: id}}
}

func TestHistoryAndReplay(t *testing.T) {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, pgtest.NewDatabase(t), pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	svc := commands.New(store, defs, commands.WithClock(clk.now))
	log := audit.New(store)

	sub, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: user("wang"), Process: "two-step",
		Fields: json.RawMessage(`{"amount":"12.00"}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.State.ID
	clk.set(t0.Add(time.Hour))
	lead, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("bob"), TicketID: id, Comment: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(2 * time.Hour))
	if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("carl"), TicketID: id}); err != nil {
		t.Fatal(err)
	}

	h, err := log.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Intact || h.Break != nil || len(h.Records) != 8 {
		t.Fatalf("history: intact %v, break %v, %d records", h.Intact, h.Break, len(h.Records))
	}
	for i, r := range h.Records {
		if !r.Verified || r.Event == nil || r.Version != uint64(i+1) || (i > 0 && r.Prev != h.Records[i-1].Hash) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if h.Head != h.Records[7].Hash || h.Records[2].Metadata.Actor != "bob" || h.Records[2].Type != ticket.TypeTaskApproved {
		t.Fatalf("history: %+v", h.Records[2])
	}

	snap, err := log.StateAt(ctx, id, t0.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != lead.Version || snap.State.Route[snap.State.Current].Key != "boss" || !snap.At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("as of 10:30: version %d, %+v", snap.Version, snap)
	}
	snap, err = log.StateAt(ctx, id, t0.Add(-time.Minute))
	if err != nil || snap.Version != 0 || snap.State.Status != ticket.StatusNone {
		t.Fatalf("before the submission: %+v, %v", snap, err)
	}
	snap, err = log.StateAtPosition(ctx, id, sub.Position)
	if err != nil || snap.Version != sub.Version || snap.Position != sub.Position || snap.State.Current != 0 {
		t.Fatalf("at the submission's position: %+v, %v", snap, err)
	}
	snap, err = log.StateAt(ctx, id, t0.Add(24*time.Hour))
	if err != nil || snap.State.Status != ticket.StatusApproved {
		t.Fatalf("at the end: %+v, %v", snap, err)
	}

	forged := eventstore.EventData{ID: uuid.New(), Type: ticket.TypeCommented,
		Data: []byte(`{"by":"mallory","text":"approved by phone","at":"2026-03-01T12:00:00Z"}`), Metadata: []byte(`{"actor":"mallory"}`)}
	if _, err := store.Append(ctx, ticket.Stream(id), eventstore.Exact(8), forged); err != nil {
		t.Fatal(err)
	}
	h, err = log.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if h.Intact || h.Break == nil || h.Break.Version != 9 || len(h.Records) != 9 || h.Records[8].Verified ||
		h.Records[8].Metadata.Actor != "mallory" || !h.Records[7].Verified {
		t.Fatalf("tampered history: intact %v, break %v, last %+v", h.Intact, h.Break, h.Records[8])
	}
	if _, err := log.StateAt(ctx, id, t0.Add(100*365*24*time.Hour)); !errorsAsBreak(err) {
		t.Fatalf("state through a tampered event: %v", err)
	}
	major, minor := sub.Position.Parts()
	if _, err := log.StateAtPosition(ctx, id, eventstore.MakePosition(major+1<<40, minor)); !errorsAsBreak(err) {
		t.Fatalf("state through a tampered event: %v", err)
	}
	if snap, err := log.StateAt(ctx, id, t0.Add(90*time.Minute)); err != nil || snap.Version != lead.Version {
		t.Fatalf("state before the tampered event: %+v, %v", snap, err)
	}

	if _, err := log.History(ctx, uuid.NewString()); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown ticket: %v", err)
	}
	if _, err := log.StateAtPosition(ctx, uuid.NewString(), sub.Position); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown ticket: %v", err)
	}
}

func errorsAsBreak(err error) bool {
	var be *envelope.BreakError
	return errors.As(err, &be)
}

func TestPrincipalHistory(t *testing.T) {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, pgtest.NewDatabase(t), pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := commands.New(store, defs)
	if _, created, err := svc.Bootstrap(ctx, commands.Bootstrap{}); err != nil || !created {
		t.Fatalf("bootstrap: %v, %v", created, err)
	}
	h, err := audit.New(store).PrincipalHistory(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Intact || len(h.Records) == 0 || !h.Records[0].Verified || h.Records[0].Event != nil || len(h.Records[0].Data) == 0 {
		t.Fatalf("history of the admin: %+v", h)
	}
	if _, err := audit.New(store).PrincipalHistory(ctx, "nobody"); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown principal: %v", err)
	}
}
