package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
)

// twoStep is a fixed process: lead (one-of: ann, bob) then boss (all-of: carl, dora).
var twoStep = tickettest.Process{ProcessKey: "two-step", Nodes: []ticket.Node{
	{Key: "lead", Mode: ticket.OneOf, Handlers: []string{"ann", "bob"}},
	{Key: "boss", Mode: ticket.AllOf, Handlers: []string{"carl", "dora"}},
}}

func user(id string) commands.Request {
	return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: id}}
}

var shop = commands.Caller{ID: "svc-shop", System: "shop", Roles: []string{commands.RoleSystem}}

// uniqueKey returns a business key no other test run uses, so that tests can share a
// long-lived event store.
func uniqueKey(prefix string) string { return prefix + "-" + uuid.NewString() }

func submit(t *testing.T, svc *commands.Service, key string) commands.TicketResult {
	t.Helper()
	res, err := svc.SubmitTicket(context.Background(), commands.SubmitTicket{
		Request: commands.Request{CommandID: uuid.New(), Caller: shop}, Process: "two-step", BusinessKey: key,
		Submitter: ticket.Submitter{ID: "wang"}, Fields: json.RawMessage(`{"amount":"12.50"}`),
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func TestTicketLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		key := uniqueKey("order")
		res := submit(t, svc, key)
		id := res.State.ID
		if id != commands.TicketIDFor("shop", "two-step", key) || res.Appended != 2 || res.Position.IsZero() {
			t.Fatalf("submit: %+v", res)
		}
		again := submit(t, svc, key)
		if again.Appended != 0 || again.Version != res.Version || again.Position != res.Position {
			t.Fatalf("a repeated submission wrote %d events (version %d, want %d)", again.Appended, again.Version, res.Version)
		}

		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("eve"), TicketID: id}); !domain.Is(err, domain.Forbidden) {
			t.Fatalf("a stranger's approval: %v", err)
		}
		step, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("bob"), TicketID: id, Comment: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		if !step.Position.After(res.Position) {
			t.Fatalf("approval at %s is not after the submission at %s", step.Position, res.Position)
		}
		for _, who := range []string{"carl", "dora"} {
			if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user(who), TicketID: id}); err != nil {
				t.Fatalf("%s approves: %v", who, err)
			}
		}
		l, err := svc.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if l.State.Status != ticket.StatusApproved {
			t.Fatalf("status %s, want approved", l.State.Status)
		}
		if _, err := svc.ReportExecution(ctx, commands.ReportExecution{Request: commands.Request{Caller: shop}, TicketID: id, Status: "succeeded", Detail: "refunded"}); err != nil {
			t.Fatal(err)
		}

		evs, err := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		links := make([]envelope.Link, len(evs))
		for i, e := range evs {
			links[i] = envelope.Link{Version: e.Version, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
		}
		if _, err := envelope.Verify(links); err != nil {
			t.Fatalf("the stored chain does not verify: %v", err)
		}
		md, _ := envelope.Decode(evs[2].Metadata)
		if md.Actor != "bob" || md.Source != "user" || md.Time.IsZero() {
			t.Fatalf("approval metadata %+v", md)
		}
	})
}

func TestRetriedCommandWritesOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		id := submit(t, svc, uniqueKey("order-2")).State.ID
		req := user("ann")
		first, err := svc.CommentTicket(ctx, commands.CommentTicket{Request: req, TicketID: id, Text: "checking"})
		if err != nil {
			t.Fatal(err)
		}
		// The same append again, as after a response lost on the way back, at the version
		// the first attempt read: the store recognises the event id derived from the command.
		evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		last := evs[len(evs)-1]
		res, err := store.Append(ctx, ticket.Stream(id), eventstore.Exact(first.Version-1),
			eventstore.EventData{ID: envelope.EventID(req.CommandID, 0), Type: last.Type, Data: last.Data, Metadata: last.Metadata})
		if err != nil || res.Version != first.Version {
			t.Fatalf("re-append of the same event id: %+v, %v", res, err)
		}
		after, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		if len(after) != len(evs) {
			t.Fatalf("the retry doubled an event: %d events, want %d", len(after), len(evs))
		}
	})
}

func TestRetriedApprovalAnswersAsTheFirst(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		id := submit(t, svc, uniqueKey("order-5")).State.ID
		req := user("ann")
		first, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: req, TicketID: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CommentTicket(ctx, commands.CommentTicket{Request: user("wang"), TicketID: id, Text: "thanks"}); err != nil {
			t.Fatal(err)
		}
		again, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: req, TicketID: id})
		if err != nil {
			t.Fatalf("a retried approval: %v", err)
		}
		if !again.Replayed || again.Appended != 0 || again.Version != first.Version || again.Position != first.Position {
			t.Fatalf("a retried approval: %+v, want the first's version %d and position %s", again, first.Version, first.Position)
		}
		evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		approvals := 0
		for _, e := range evs {
			if e.Type == ticket.TypeTaskApproved {
				approvals++
			}
		}
		if approvals != 1 {
			t.Fatalf("%d approvals stored, want 1", approvals)
		}
	})
}

func TestRacingApprovers(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		for round := 0; round < 10; round++ {
			id := submit(t, svc, uniqueKey(fmt.Sprintf("race-%d", round))).State.ID
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, who := range []string{"ann", "bob"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = svc.ApproveTask(ctx, commands.ApproveTask{Request: user(who), TicketID: id})
				}()
			}
			close(start)
			wg.Wait()
			wins, conflicts := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case domain.Is(err, domain.Conflict):
					conflicts++
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			if wins != 1 || conflicts != 1 {
				t.Fatalf("round %d: %d approvals landed and %d conflicted, want 1 and 1 (%v)", round, wins, conflicts, errs)
			}
			l, err := svc.Ticket(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			decisions := 0
			evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
			for _, e := range evs {
				if e.Type == ticket.TypeTaskApproved {
					decisions++
				}
			}
			if decisions != 1 || l.State.Route[l.State.Current].Key != "boss" {
				t.Fatalf("round %d: %d approvals stored, node %d", round, decisions, l.State.Current)
			}
		}
	})
}

func TestDelegatedDecision(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		id := submit(t, svc, uniqueKey("order-3")).State.ID
		asAssistant := commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "amy", OnBehalfOf: "ann"}}
		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: asAssistant, TicketID: id}); !domain.Is(err, domain.Forbidden) {
			t.Fatalf("approval by a delegate without a grant: %v", err)
		}
		grant, err := svc.GrantDelegation(ctx, commands.GrantDelegation{Request: user("ann"), Principal: "ann", Delegate: "amy", Until: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(grant.State.Grants) != 1 {
			t.Fatalf("grants %+v", grant.State)
		}
		asAssistant.CommandID = uuid.New()
		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: asAssistant, TicketID: id}); err != nil {
			t.Fatalf("approval by a delegate: %v", err)
		}
		evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		var approval *ticket.TaskApproval
		for _, e := range evs {
			if e.Type == ticket.TypeTaskApproved {
				ev, _ := ticket.Decode(e.Type, e.Data)
				approval = ev.(*ticket.TaskApproval)
				md, _ := envelope.Decode(e.Metadata)
				if md.Actor != "amy" || md.OnBehalfOf != "ann" {
					t.Fatalf("metadata actor %s on behalf of %s, want amy for ann", md.Actor, md.OnBehalfOf)
				}
			}
		}
		if approval == nil || approval.By != "amy" || approval.Assignee != "ann" {
			t.Fatalf("approval %+v", approval)
		}
		if _, err := svc.RevokeDelegation(ctx, commands.RevokeDelegation{Request: user("ann"), Principal: "ann", GrantID: grant.State.Grants[0].ID}); err != nil {
			t.Fatal(err)
		}
		st, err := svc.Delegations(ctx, "ann")
		if err != nil || st.Grants[0].RevokedAt.IsZero() {
			t.Fatalf("after revoke: %+v, %v", st, err)
		}
	})
}

func TestTamperedTicketIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep})
		res := submit(t, svc, uniqueKey("order-4"))
		forged := eventstore.EventData{ID: uuid.New(), Type: ticket.TypeCommented,
			Data: []byte(`{"by":"mallory","text":"approved by phone","at":"2026-11-25T10:00:00Z"}`), Metadata: []byte(`{"actor":"mallory"}`)}
		if _, err := store.Append(ctx, ticket.Stream(res.State.ID), eventstore.Exact(res.Version), forged); err != nil {
			t.Fatal(err)
		}
		_, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("ann"), TicketID: res.State.ID})
		var be *envelope.BreakError
		if !errors.As(err, &be) || be.Version != res.Version+1 {
			t.Fatalf("a decision on a tampered ticket: %v, want a chain break at version %d", err, res.Version+1)
		}
	})
}

func TestUnknownTicket(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		svc := commands.New(store, tickettest.Definitions{twoStep})
		id := uuid.NewString()
		for _, id := range []string{"not-a-uuid", id, "{" + id + "}", "urn:uuid:" + id, strings.ReplaceAll(id, "-", "")} {
			if _, err := svc.ApproveTask(context.Background(), commands.ApproveTask{Request: user("ann"), TicketID: id}); !domain.Is(err, domain.NotFound) {
				t.Fatalf("approve on ticket %q: %v", id, err)
			}
		}
		if _, err := svc.SubmitTicket(context.Background(), commands.SubmitTicket{Request: commands.Request{Caller: shop}, Process: "nope"}); !domain.Is(err, domain.NotFound) {
			t.Fatalf("submit to an unknown process: %v", err)
		}
		for _, tid := range []string{"urn:uuid:" + id, "{" + id + "}", id} {
			_, err := svc.SubmitTicket(context.Background(), commands.SubmitTicket{Request: commands.Request{CommandID: uuid.New(), Caller: shop},
				Process: "two-step", TicketID: tid, Submitter: ticket.Submitter{ID: "wang"}, Fields: json.RawMessage(`{"amount":"12.50"}`)})
			if canonical := tid == id; canonical != (err == nil) || !canonical && !domain.Is(err, domain.Invalid) {
				t.Fatalf("submit with ticket id %q: %v", tid, err)
			}
		}
	})
}
