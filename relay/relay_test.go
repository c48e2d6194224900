package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/relay"
)

// TestOutcomeWebhook follows one approval from the decision to the receiver and back:
// the payload, the signature, the delivery log, and the execution report linked to the
// delivery it answers.
func TestOutcomeWebhook(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{Processes: []string{"expense"}})
	rejectsOnly := newReceiver(t)
	h.register(rejectsOnly, relay.NewEndpoint{Outcomes: []string{relay.OutcomeRejected}})
	crm := newReceiver(t)
	h.register(crm, relay.NewEndpoint{System: "crm"})
	h.start(h.sqlTransport(), fastDispatch())

	if _, err := h.svc.GrantDelegation(ctx, commands.GrantDelegation{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "ann"}},
		Principal: "ann", Delegate: "bea", From: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	id := h.submit("SO-42")
	decided, err := h.svc.ApproveTask(ctx, commands.ApproveTask{
		Request:  commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "bea", OnBehalfOf: "ann"}},
		TicketID: id, Comment: "fine", Changes: nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the webhook", func() bool { return len(rcv.all()) == 1 })
	got := rcv.all()[0]
	if got.verified != nil {
		t.Fatalf("the reference Standard Webhooks library rejects the request: %v", got.verified)
	}
	p := got.payload
	d := p.Data
	if p.Type != ticket.TypeApproved || p.SchemaVersion != relay.PayloadSchema || d.Outcome != relay.OutcomeApproved ||
		d.TicketID != id || d.System != "shop" || d.ProcessKey != "expense" || d.ProcessVersion != 3 ||
		d.BusinessKey != "SO-42" || d.Title != "Expense SO-42" || d.Submitter != "wang" {
		t.Fatalf("payload %s", got.body)
	}
	if string(d.Fields["amount"]) != `"12.50"` || string(d.Fields["key"]) != `"SO-42"` {
		t.Fatalf("fields %s", got.body)
	}
	if d.DecidedBy != "bea" || d.OnBehalfOf != "ann" || !p.Timestamp.Equal(d.DecidedAt) || d.DecidedAt.IsZero() {
		t.Fatalf("decision %s", got.body)
	}
	if len(d.Trail) != 2 || d.Trail[0].Decision != "submitted" || d.Trail[0].By != "svc-shop" || d.Trail[0].OnBehalfOf != "wang" ||
		d.Trail[1].Decision != "approved" || d.Trail[1].By != "bea" || d.Trail[1].OnBehalfOf != "ann" || d.Trail[1].Node != "lead" ||
		d.Trail[1].Comment != "fine" {
		t.Fatalf("trail %+v", d.Trail)
	}
	loaded, err := h.svc.Ticket(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.ChainHead != loaded.Head.String() || d.StreamVersion != loaded.Version || d.Position != decided.Position.String() {
		t.Fatalf("chain head %s version %d position %s, want %s %d %s", d.ChainHead, d.StreamVersion, d.Position, loaded.Head, loaded.Version, decided.Position)
	}
	evs, _ := h.events.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Count: 1})
	if got.id != relay.WebhookID(id, evs[0].ID, e.ID).String() || d.EventID != evs[0].ID.String() {
		t.Fatalf("webhook-id %s, want the id derived from the ticket, the outcome event and the endpoint", got.id)
	}

	waitFor(t, 5*time.Second, "the delivery to be recorded", func() bool { return h.countState(e.ID, relay.Delivered) == 1 })
	ds, err := h.store.Deliveries(ctx, relay.DeliveryQuery{TicketID: id})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of the ticket: %+v, %v (the rejections-only and crm endpoints want none)", ds, err)
	}
	dl := ds[0]
	if dl.ID.String() != got.id || dl.State != relay.Delivered || dl.Attempts != 1 || dl.LastStatus != http.StatusNoContent ||
		dl.Outcome != relay.OutcomeApproved || dl.DeliveredAt.IsZero() || dl.EndpointID != e.ID {
		t.Fatalf("delivery %+v", dl)
	}
	as, err := h.store.Attempts(ctx, relay.AttemptQuery{DeliveryID: dl.ID})
	if err != nil || len(as) != 1 || as[0].Status != http.StatusNoContent || as[0].Number != 1 || as[0].Error != "" || as[0].Latency <= 0 {
		t.Fatalf("attempts %+v, %v", as, err)
	}
	if byTicket, _ := h.store.Attempts(ctx, relay.AttemptQuery{TicketID: id}); len(byTicket) != 1 {
		t.Fatalf("attempts by ticket: %+v", byTicket)
	}
	if byEndpoint, _ := h.store.Attempts(ctx, relay.AttemptQuery{EndpointID: e.ID}); len(byEndpoint) != 1 {
		t.Fatalf("attempts by endpoint: %+v", byEndpoint)
	}
	if len(rejectsOnly.all()) != 0 || len(crm.all()) != 0 {
		t.Fatal("an endpoint received an outcome it does not want")
	}

	if _, err := h.svc.ReportExecution(ctx, commands.ReportExecution{
		Request:  commands.Request{CommandID: uuid.New(), Caller: shop, CausationID: got.id},
		TicketID: id, Status: ticket.ExecutionSucceeded, Detail: "refund paid",
	}); err != nil {
		t.Fatal(err)
	}
	var rec relay.OutcomeRecord
	waitFor(t, 5*time.Second, "the execution report", func() bool {
		os, err := h.store.Outcomes(ctx, id)
		if err != nil || len(os) != 1 {
			return false
		}
		rec = os[0]
		return rec.Execution.Status != ""
	})
	if rec.Execution.Status != "succeeded" || rec.Execution.Detail != "refund paid" || rec.Execution.ReportedBy != "svc-shop" ||
		rec.Execution.WebhookID != got.id || rec.Outcome != "approved" || string(rec.Payload) != string(got.body) {
		t.Fatalf("outcome record %+v", rec)
	}
	pos, err := h.store.Checkpoint(ctx, relay.DefaultRelayName)
	if err != nil || pos.Before(decided.Position) {
		t.Fatalf("checkpoint %s, want at least %s (%v)", pos, decided.Position, err)
	}
}

// TestOutcomeKinds checks the payload of a rejection and a withdrawal.
func TestOutcomeKinds(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	h.start(h.sqlTransport(), fastDispatch())
	ids := h.outcomes(3, 3)
	waitFor(t, 10*time.Second, "three webhooks", func() bool { return len(rcv.distinct()) == 3 })
	byTicket := map[string]relay.Payload{}
	for _, g := range rcv.all() {
		if g.verified != nil {
			t.Fatal(g.verified)
		}
		byTicket[g.payload.Data.TicketID] = g.payload
	}
	rej, wd := byTicket[ids[1]], byTicket[ids[2]]
	if rej.Data.Outcome != "rejected" || rej.Data.Node != "lead" || rej.Data.Reason != "no receipt" || rej.Data.DecidedBy != "ann" ||
		rej.Data.Trail[len(rej.Data.Trail)-1].Decision != "rejected" {
		t.Fatalf("rejection %+v", rej)
	}
	if wd.Data.Outcome != "withdrawn" || wd.Data.Reason != "cancelled" || wd.Data.Trail[len(wd.Data.Trail)-1].Decision != "withdrawn" {
		t.Fatalf("withdrawal %+v", wd)
	}
	raw, _ := json.Marshal(wd)
	var back map[string]any
	_ = json.Unmarshal(raw, &back)
	if back["schema_version"] != float64(1) || back["type"] != "ticket.withdrawn" {
		t.Fatalf("payload envelope %s", raw)
	}
}

// TestDecisionTrail drives a ticket through a transfer, a return to the submitter, a
// resubmission, an admin's reassignment and an added signer, and checks the trail the
// payload summarises.
func TestDecisionTrail(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	h.start(h.sqlTransport(), fastDispatch())
	as := func(id string) commands.Request {
		return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: id}}
	}
	id := h.submit("trail")
	steps := []func() error{
		func() error {
			_, err := h.svc.TransferTask(ctx, commands.TransferTask{Request: as("ann"), TicketID: id, To: "carl", Comment: "on leave"})
			return err
		},
		func() error {
			_, err := h.svc.ReturnTicket(ctx, commands.ReturnTicket{Request: as("carl"), TicketID: id, To: ticket.ToSubmitter, Comment: "receipt missing"})
			return err
		},
		func() error {
			_, err := h.svc.ResubmitTicket(ctx, commands.ResubmitTicket{Request: as("wang"), TicketID: id, Changes: json.RawMessage(`{"amount":"13.00"}`), Comment: "added"})
			return err
		},
		func() error {
			l, err := h.svc.Ticket(ctx, id)
			if err != nil {
				return err
			}
			var task string
			for _, tk := range l.State.Tasks {
				if tk.Assignee == "ann" && tk.Status == ticket.TaskPending {
					task = tk.ID
				}
			}
			root := commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "root", Roles: []string{commands.RoleAdmin}}}
			_, err = h.svc.TransferTask(ctx, commands.TransferTask{Request: root, TicketID: id, TaskID: task, To: "erin", Comment: "ann has left"})
			return err
		},
		func() error {
			_, err := h.svc.AddSigner(ctx, commands.AddSigner{Request: as("erin"), TicketID: id, Signer: "dora", Where: ticket.After})
			return err
		},
		func() error {
			_, err := h.svc.ApproveTask(ctx, commands.ApproveTask{Request: as("erin"), TicketID: id})
			return err
		},
		func() error {
			_, err := h.svc.ApproveTask(ctx, commands.ApproveTask{Request: as("dora"), TicketID: id})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	waitFor(t, 10*time.Second, "the outcome", func() bool { return len(rcv.all()) == 1 })
	d := rcv.all()[0].payload.Data
	var kinds []string
	for _, e := range d.Trail {
		kinds = append(kinds, e.Decision)
	}
	want := []string{"submitted", "transferred", "returned", "resubmitted", "transferred", "signer-added", "approved", "approved"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("trail %v, want %v", kinds, want)
	}
	if d.Trail[1].To != "carl" || d.Trail[1].Reassigned || d.Trail[2].To != ticket.ToSubmitter || d.Trail[5].To != "dora" ||
		d.Trail[7].By != "dora" || string(d.Fields["amount"]) != `"13.00"` || d.DecidedBy != "dora" {
		t.Fatalf("trail %+v, fields %s", d.Trail, d.Fields)
	}
	if r := d.Trail[4]; !r.Reassigned || r.By != "root" || r.OnBehalfOf != "ann" || r.To != "erin" {
		t.Fatalf("the admin's reassignment in the trail: %+v", r)
	}
}

// TestRelayOnEventStoreDB runs the relay on the EventStoreDB adapter (its protocol
// double): positions are EventStoreDB's commit and prepare positions.
func TestRelayOnEventStoreDB(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	events, err := esdb.Open(context.Background(), esdbtest.Start(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Close() })
	h := newHarnessOn(t, url, pool, events)
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	h.start(h.sqlTransport(), fastDispatch())
	ids := h.outcomes(6, 3)
	waitFor(t, 15*time.Second, "the outcomes", func() bool { return len(rcv.distinct()) == len(ids) })
	for _, g := range rcv.all() {
		if g.verified != nil || g.payload.Data.ChainHead == "" || g.payload.Data.Position == "" {
			t.Fatalf("payload %s (%v)", g.body, g.verified)
		}
	}
}

// TestBatchInterval: an outcome after a quiet spell is relayed at once; those that follow
// within the batch interval of that transaction wait for the next, which a full batch
// brings forward.
func TestBatchInterval(t *testing.T) {
	h := newHarness(t)
	r, err := relay.New(h.events, h.store, h.sqlTransport(), relay.RelayConfig{BatchSize: 2, BatchInterval: time.Hour,
		RetryDelay: 200 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, "relay", r.Run)
	recorded := func() int {
		var n int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM relay_messages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	decided := func(i int) {
		if err := h.decide(i, h.submit(fmt.Sprintf("interval-%d", i))); err != nil {
			t.Fatal(err)
		}
	}

	decided(0)
	waitFor(t, 10*time.Second, "the first outcome relayed at once", func() bool { return recorded() == 1 })
	decided(1)
	time.Sleep(300 * time.Millisecond)
	if n := recorded(); n != 1 {
		t.Fatalf("%d outcomes relayed within the interval with the batch not full, want 1", n)
	}
	decided(2)
	waitFor(t, 10*time.Second, "a full batch relayed", func() bool { return recorded() == 3 })
}
