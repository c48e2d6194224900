package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

var directory = commands.StaticDirectory{
	Roles: map[string][]string{
		"customer-service": {"xiaoli"},
		"finance":          {"fang"},
		"cashier":          {"chen"},
		"data-conflict":    {"team-a", "team-b"},
	},
}

var admin = commands.Caller{ID: "root", Roles: []string{commands.RoleAdmin}}

// articleService publishes the article's two example processes and returns a service
// that submits under them.
func articleService(t *testing.T, store eventstore.Store) *commands.Service {
	t.Helper()
	defs := commands.NewProcessDefinitions(store, func(context.Context) (commands.Directory, error) { return directory, nil })
	svc := commands.New(store, defs)
	for _, name := range []string{"refund", "data-conflict"} {
		src, err := process.Example(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.PublishProcess(context.Background(), commands.PublishProcess{Request: commands.Request{Caller: admin}, Key: name, Source: src})
		if err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
		if res.State.Version < 1 {
			t.Fatalf("publish %s: version %d", name, res.State.Version)
		}
	}
	return svc
}

func refundFields(amount string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{
		"order_id": "SO-20261125-0042", "customer": "Zhang San", "reason": "wrong size",
		"items": [{"sku": "TS-42-L", "name": "T-shirt", "quantity": 2, "price": "99.00"}],
		"amount": %q, "refund_method": "bank_transfer", "payee_name": "Zhang San", "payee_account": "6222 0000 1111"
	}`, amount))
}

// TestRefundScenario runs the article's refund: business staff → finance → cashier, each
// seeing what their node shows, then the shop reports the payout.
func TestRefundScenario(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := articleService(t, store)
		shopReq := commands.Request{CommandID: uuid.New(), Caller: shop}
		res, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: shopReq, Process: "refund", BusinessKey: uniqueKey("SO-42"),
			Submitter: ticket.Submitter{ID: "cust-1001"}, Title: "Refund SO-20261125-0042", Fields: refundFields("198.00")})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		id := res.State.ID
		route := res.State.Route
		if len(route) != 3 || route[0].Key != "business" || route[1].Key != "finance" || route[2].Key != "cashier" {
			t.Fatalf("route %+v", route)
		}
		if !slices.Contains(route[1].Visible, "amount") || slices.Contains(route[1].Visible, "payee_name") ||
			!slices.Contains(route[2].Visible, "payee_name") || slices.Contains(route[2].Visible, "items") {
			t.Fatalf("visibility: finance %v, cashier %v", route[1].Visible, route[2].Visible)
		}

		bad, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: shop}, Process: "refund", BusinessKey: uniqueKey("SO-43"),
			Submitter: ticket.Submitter{ID: "cust-1001"}, Fields: json.RawMessage(`{"order_id":"so 1","amount":"-1"}`)})
		if !domain.Is(err, domain.Invalid) || bad.Appended != 0 {
			t.Fatalf("invalid fields: %v", err)
		}
		if ps := process.AsProblems(err); len(ps) < 3 {
			t.Fatalf("invalid fields: want every problem with its path, got %v", ps)
		}

		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("fang"), TicketID: id}); !domain.Is(err, domain.Forbidden) {
			t.Fatalf("finance before business: %v", err)
		}
		for _, who := range []string{"xiaoli", "fang", "chen"} {
			if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user(who), TicketID: id, Comment: "ok"}); err != nil {
				t.Fatalf("%s approves: %v", who, err)
			}
		}
		l, err := svc.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if l.State.Status != ticket.StatusApproved {
			t.Fatalf("status %s", l.State.Status)
		}
		evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
		for _, e := range evs {
			if e.Type != ticket.TypeTaskApproved {
				continue
			}
			ev, _ := ticket.Decode(e.Type, e.Data)
			d := ev.(*ticket.TaskApproval)
			node := route[slices.IndexFunc(route, func(n ticket.Node) bool { return n.Key == d.Node })]
			if want := ticket.ShownFieldsHash(l.State.Fields, node); d.ShownFields != want {
				t.Fatalf("%s's decision records %s, the hash of what %s shows is %s", d.By, d.ShownFields, d.Node, want)
			}
		}
		if _, err := svc.ReportExecution(ctx, commands.ReportExecution{Request: commands.Request{Caller: shop}, TicketID: id, Status: "succeeded", Detail: "paid 198.00 CNY"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSmallRefundSkipsFinance checks a node condition over money and an enum.
func TestSmallRefundSkipsFinance(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		svc := articleService(t, store)
		fields := json.RawMessage(`{"order_id":"SO-1","customer":"Li","reason":"late","items":[{"sku":"A","name":"Mug","quantity":1,"price":"25.00"}],
			"amount":"25.00","refund_method":"original","payee_name":"Li"}`)
		res, err := svc.SubmitTicket(context.Background(), commands.SubmitTicket{Request: commands.Request{Caller: shop}, Process: "refund",
			BusinessKey: uniqueKey("SO-1"), Submitter: ticket.Submitter{ID: "cust-7"}, Fields: fields})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, n := range res.State.Route {
			keys = append(keys, n.Key)
		}
		if !slices.Equal(keys, []string{"business", "cashier"}) {
			t.Fatalf("route %v, want business then cashier", keys)
		}
	})
}

// TestDataConflictScenario runs the article's data conflict claim: salesperson Wang's
// evidence goes to the data-conflict team; the current owner is copied in; on approval the
// CRM reports that the lead went back to Wang.
func TestDataConflictScenario(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := articleService(t, store)
		crm := commands.Caller{ID: "svc-crm", System: "crm", Roles: []string{commands.RoleSystem}}
		fields := json.RawMessage(`{"lead_id":"L-7781","lead_name":"Acme Ltd","current_owner":"ming","claimant":"wang",
			"first_contact":"2026-10-02","description":"I met Acme at the fair and logged the call first.",
			"evidence":[{"id":"att-1","name":"call-log.png","url":"https://files.example/att-1","size":48213}]}`)
		res, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: crm}, Process: "data-conflict",
			BusinessKey: uniqueKey("L-7781"), Submitter: ticket.Submitter{ID: "wang"}, Title: "Lead L-7781 belongs to Wang", Fields: fields})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		id := res.State.ID
		if n := res.State.Route[0]; n.Key != "review" || !slices.Equal(n.Handlers, []string{"team-a", "team-b"}) || !slices.Contains(n.CC, "ming") {
			t.Fatalf("review node %+v", n)
		}
		if _, err := svc.UrgeTicket(ctx, commands.UrgeTicket{Request: user("wang"), TicketID: id, Comment: "the client calls tomorrow"}); err != nil {
			t.Fatalf("urge: %v", err)
		}
		if _, err := svc.UrgeTicket(ctx, commands.UrgeTicket{Request: user("wang"), TicketID: id}); !domain.Is(err, domain.TooSoon) {
			t.Fatalf("a second urge within the process's interval: %v", err)
		}
		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("team-b"), TicketID: id, Comment: "the call log predates the assignment"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ReportExecution(ctx, commands.ReportExecution{Request: commands.Request{Caller: crm}, TicketID: id, Status: "succeeded", Detail: "lead L-7781 reassigned to wang"}); err != nil {
			t.Fatal(err)
		}
		l, err := svc.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if l.State.Status != ticket.StatusApproved || !l.State.Succeeded() || l.State.Urges != 1 {
			t.Fatalf("state: %s, executions %+v, urges %d", l.State.Status, l.State.Executions, l.State.Urges)
		}
	})
}

// TestPublishing covers versioning, idempotent republication, refusal of invalid
// definitions and of callers who may not publish, and pinning.
func TestPublishing(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := articleService(t, store)
		src, _ := process.Example("refund")
		again, err := svc.PublishProcess(ctx, commands.PublishProcess{Request: commands.Request{Caller: admin}, Key: "refund", Source: src})
		if err != nil || again.Appended != 0 || again.State.Version != 1 {
			t.Fatalf("republishing the same document: %+v, %v", again, err)
		}
		if _, err := svc.PublishProcess(ctx, commands.PublishProcess{Request: user("wang"), Key: "refund", Source: src}); !domain.Is(err, domain.Forbidden) {
			t.Fatalf("a user publishes: %v", err)
		}
		_, err = svc.PublishProcess(ctx, commands.PublishProcess{Request: commands.Request{Caller: admin}, Key: "refund", Source: []byte("key: refund\nnodes: []\n")})
		if !domain.Is(err, domain.Invalid) || len(process.AsProblems(err)) == 0 {
			t.Fatalf("an invalid definition: %v", err)
		}
		res, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: shop}, Process: "refund", BusinessKey: uniqueKey("SO-9"),
			Submitter: ticket.Submitter{ID: "cust-9"}, Fields: refundFields("300.00")})
		if err != nil {
			t.Fatal(err)
		}
		changed := []byte(strings.Replace(string(src), "urge_interval: 30m", "urge_interval: 45m", 1))
		pub, err := svc.PublishProcess(ctx, commands.PublishProcess{Request: commands.Request{Caller: admin}, Key: "refund", Source: changed})
		if err != nil || pub.State.Version != 2 {
			t.Fatalf("publish v2: %+v, %v", pub.State.Version, err)
		}
		l, err := svc.Ticket(ctx, res.State.ID)
		if err != nil || l.State.ProcessVersion != 1 {
			t.Fatalf("a running ticket moved off its pinned version: %d, %v", l.State.ProcessVersion, err)
		}
		if _, err := svc.RetireProcess(ctx, commands.RetireProcess{Request: commands.Request{Caller: admin}, Key: "refund", Reason: "replaced"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: shop}, Process: "refund", BusinessKey: uniqueKey("SO-10"),
			Submitter: ticket.Submitter{ID: "cust-9"}, Fields: refundFields("300.00")}); !domain.Is(err, domain.Conflict) {
			t.Fatalf("a submission to a retired process: %v", err)
		}
		if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("xiaoli"), TicketID: res.State.ID}); err != nil {
			t.Fatalf("a running ticket of a retired process: %v", err)
		}
	})
}
