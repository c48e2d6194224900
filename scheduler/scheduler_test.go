package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/domain/ticket/tickettest"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/scheduler"
)

// sla is a process of two nodes with an SLA of 8 hours, reminded 1 hour before.
var sla = tickettest.Process{ProcessKey: "sla", Nodes: []ticket.Node{
	{Key: "first", Mode: ticket.OneOf, Handlers: []string{"ann"}, DueAfter: 8 * time.Hour, RemindBefore: time.Hour},
	{Key: "second", Mode: ticket.OneOf, Handlers: []string{"bob"}, DueAfter: 8 * time.Hour, RemindBefore: time.Hour},
}}

// whole is sla's two nodes under a limit on the whole ticket: due 20 hours after
// submission, reminded 4 hours before.
var whole = tickettest.Process{ProcessKey: "whole", Nodes: sla.Nodes, SLA: 20 * time.Hour, Remind: 4 * time.Hour}

var defs = tickettest.Definitions{sla, whole}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// remindersEnv is a database with the event store, a service on a settable clock and the
// reminders projection running with cfg.
type remindersEnv struct {
	pool      *pgxpool.Pool
	store     *pgstore.Store
	clk       *clock
	svc       *commands.Service
	reminders *scheduler.Reminders
	runner    *projections.Runner
	sched     *scheduler.Scheduler
}

func newRemindersEnv(t *testing.T, ctx context.Context, t0 time.Time, cfg projections.Config) *remindersEnv {
	t.Helper()
	e := &remindersEnv{pool: pgtest.NewPool(t), clk: &clock{now: t0}}
	store, err := pgstore.New(ctx, e.pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	e.svc = commands.New(store, defs, commands.WithClock(e.clk.Now))
	e.reminders = scheduler.NewReminders(e.pool)
	if e.runner, err = projections.NewRunner(e.pool, store, cfg, e.reminders); err != nil {
		t.Fatal(err)
	}
	if err := e.runner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	go e.runner.Run(ctx)
	e.sched = scheduler.New(e.reminders, e.svc, scheduler.Config{Now: e.clk.Now})
	return e
}

func TestReminders(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	env := newRemindersEnv(t, ctx, t0, projections.Config{})
	store, clk, svc, reminders, runner, sched := env.store, env.clk, env.svc, env.reminders, env.runner, env.sched

	sub, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: commands.Caller{ID: "wang"}}, Process: "sla", Fields: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.State.ID
	tick := func(at time.Time, pos eventstore.Position, want int) {
		t.Helper()
		if err := runner.WaitFor(ctx, scheduler.RemindersName, pos, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Set(at)
		n, err := sched.Tick(ctx)
		if err != nil || n != want {
			t.Fatalf("tick at %s: %d reminders sent, %v; want %d", at.Format(time.Kitchen), n, err, want)
		}
	}
	tick(t0.Add(6*time.Hour), sub.Position, 0)
	tick(t0.Add(7*time.Hour), sub.Position, 1)
	l, _ := svc.Ticket(ctx, id)
	tick(t0.Add(7*time.Hour+time.Minute), l.Position, 0)
	tick(t0.Add(9*time.Hour), l.Position, 1)
	l, _ = svc.Ticket(ctx, id)
	tick(t0.Add(10*time.Hour), l.Position, 0)

	evs, _ := store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
	var kinds []string
	for _, e := range evs {
		if e.Type == ticket.TypeReminded {
			ev, _ := ticket.Decode(e.Type, e.Data)
			r := ev.(*ticket.Reminded)
			kinds = append(kinds, r.Kind)
			if r.Node != "first" || len(r.Handlers) != 1 || r.Handlers[0] != "ann" {
				t.Fatalf("reminder %+v", r)
			}
		}
	}
	if len(kinds) != 2 || kinds[0] != ticket.DueSoon || kinds[1] != ticket.Overdue {
		t.Fatalf("reminders recorded %v, want due-soon then overdue", kinds)
	}

	clk.Set(t0.Add(11 * time.Hour))
	res, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "ann"}}, TicketID: id})
	if err != nil {
		t.Fatal(err)
	}
	tick(t0.Add(17*time.Hour), res.Position, 0)
	tick(t0.Add(18*time.Hour), res.Position, 1)
	tick(t0.Add(19*time.Hour+time.Minute), res.Position, 1)
	l, _ = svc.Ticket(ctx, id)
	if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: "bob"}}, TicketID: id}); err != nil {
		t.Fatal(err)
	}
	l, _ = svc.Ticket(ctx, id)
	tick(t0.Add(48*time.Hour), l.Position, 0)
	due, err := reminders.DueAt(ctx, t0.Add(100*time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("reminders left after the ticket closed: %+v, %v", due, err)
	}

	// A scheduler that comes round only after a node's due time (it was down, or the SLA is
	// shorter than its interval) sends the overdue reminder alone: "due soon" would be
	// wrong by then. It used to send both.
	clk.Set(t0.Add(50 * time.Hour))
	late, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: commands.Caller{ID: "wang"}}, Process: "sla", Fields: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	tick(t0.Add(60*time.Hour), late.Position, 1)
	l, _ = svc.Ticket(ctx, late.State.ID)
	if r := l.State.Reminded; len(r) != 1 || !r["1/"+ticket.Overdue] {
		t.Fatalf("reminders recorded when the scheduler came late: %v", r)
	}
	if err := runner.WaitFor(ctx, scheduler.RemindersName, l.Position, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if due, err := reminders.DueAt(ctx, t0.Add(100*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("reminders left after the overdue one: %+v, %v", due, err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	pool := pgtest.NewPool(t)
	setup, done := context.WithTimeout(context.Background(), time.Minute)
	defer done()
	store, err := pgstore.New(setup, pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reminders := scheduler.NewReminders(pool)
	runner, err := projections.NewRunner(pool, store, projections.Config{}, reminders)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Migrate(setup); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s := scheduler.New(reminders, commands.New(store, defs), scheduler.Config{Interval: 20 * time.Millisecond})
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run ended with %v, want nil when its context ends", err)
	}
}

// as is a request of a new command by the user who.
func as(who string) commands.Request {
	return commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: who}}
}

// TestRemindersSetEqualsEventByEvent folds many tickets' reminders event by event (batches
// of one) and in one batch (a rebuild), and finds the same rows.
func TestRemindersSetEqualsEventByEvent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	env := newRemindersEnv(t, ctx, t0, projections.Config{BatchSize: 1})
	pool, store, clk, svc, reminders, runner, sched := env.pool, env.store, env.clk, env.svc, env.reminders, env.runner, env.sched
	var last eventstore.Position
	step := func(res commands.TicketResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	tick := func(at time.Time) {
		t.Helper()
		if err := runner.WaitFor(ctx, scheduler.RemindersName, last, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Set(at)
		if _, err := sched.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		// The log's last event, from the table: ReadAll would hide the reminders behind
		// the cluster-wide horizon while another database's transaction holds it back.
		var xid, pos uint64
		if err := pool.QueryRow(ctx, `SELECT transaction_id::text::numeric, position FROM events
			ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&xid, &pos); err != nil {
			t.Fatalf("the log's last event: %v", err)
		}
		last = eventstore.MakePosition(xid, pos)
	}

	const n = 30
	ids := make([]string, n)
	for i := range ids {
		clk.Set(t0.Add(time.Duration(i) * time.Minute))
		res, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: as("wang"), Process: "sla", Fields: json.RawMessage(`{}`)})
		step(res, err)
		ids[i] = res.State.ID
	}
	tick(t0.Add(7*time.Hour + 15*time.Minute)) // due-soon for the first fifteen
	for i, id := range ids {
		switch i % 4 {
		case 0, 1:
			step(svc.ApproveTask(ctx, commands.ApproveTask{Request: as("ann"), TicketID: id}))
		case 2:
			step(svc.WithdrawTicket(ctx, commands.WithdrawTicket{Request: as("wang"), TicketID: id}))
		}
	}
	tick(t0.Add(9 * time.Hour)) // overdue for the tickets still at the first node
	for i, id := range ids {
		if i%4 == 0 {
			step(svc.ApproveTask(ctx, commands.ApproveTask{Request: as("bob"), TicketID: id}))
		}
	}
	if err := runner.WaitFor(ctx, scheduler.RemindersName, last, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dump := func() []string { return dumpReminders(t, ctx, pool) }
	want := dump()
	kinds := map[string]int{}
	for _, r := range want {
		kinds[strings.Fields(r)[2]]++
	}
	// Left: the second node's due-soon and overdue of the tickets ann approved and bob did
	// not (i%4 == 1); the first node's were sent or cleared.
	if kinds[ticket.DueSoon] != n/4+1 || kinds[ticket.Overdue] != n/4+1 || len(want) != 2*(n/4+1) {
		t.Fatalf("event by event: %d rows %v, want a due-soon and an overdue for each of %d tickets", len(want), kinds, n/4+1)
	}

	rebuiltAlike(t, ctx, pool, store, reminders, want)
}

// TestWholeTicketReminders: a process's limit on the whole ticket, declared but never
// applied before, reminds the active node's handlers when it approaches and when it is
// passed, across the ticket's nodes, once each; a closed ticket is reminded of nothing.
// Folded event by event and in one batch, the reminders are the same rows.
func TestWholeTicketReminders(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	env := newRemindersEnv(t, ctx, t0, projections.Config{BatchSize: 1})
	pool, store, clk, svc, reminders, runner, sched := env.pool, env.store, env.clk, env.svc, env.reminders, env.runner, env.sched
	open, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: as("wang"), Process: "whole", Fields: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := svc.SubmitTicket(ctx, commands.SubmitTicket{Request: as("li"), Process: "whole", Fields: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	last := closed.Position
	step := func(at time.Time, do func() (commands.TicketResult, error)) {
		t.Helper()
		clk.Set(at)
		res, err := do()
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	tick := func(at time.Time, want int) {
		t.Helper()
		if err := runner.WaitFor(ctx, scheduler.RemindersName, last, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Set(at)
		n, err := sched.Tick(ctx)
		if err != nil || n != want {
			t.Fatalf("tick at +%s: %d reminders sent, %v; want %d", at.Sub(t0), n, err, want)
		}
		l, _ := svc.Ticket(ctx, open.State.ID)
		last = l.Position
	}
	// ann approves the first node of both in time; li withdraws hers.
	step(t0.Add(2*time.Hour), func() (commands.TicketResult, error) {
		return svc.ApproveTask(ctx, commands.ApproveTask{Request: as("ann"), TicketID: open.State.ID})
	})
	step(t0.Add(2*time.Hour), func() (commands.TicketResult, error) {
		return svc.WithdrawTicket(ctx, commands.WithdrawTicket{Request: as("li"), TicketID: closed.State.ID})
	})
	tick(t0.Add(8*time.Hour), 0)
	tick(t0.Add(9*time.Hour), 1)  // the second node (active since +2 h, due at +10 h) is due soon
	tick(t0.Add(16*time.Hour), 2) // the second node is overdue, the whole ticket (due at +20 h) due soon
	tick(t0.Add(16*time.Hour+time.Minute), 0)
	tick(t0.Add(20*time.Hour), 1) // the whole ticket is overdue
	tick(t0.Add(30*time.Hour), 0)

	evs, _ := store.ReadStream(ctx, ticket.Stream(open.State.ID), eventstore.ReadStreamOptions{})
	var got []string
	for _, e := range evs {
		if e.Type == ticket.TypeReminded {
			ev, _ := ticket.Decode(e.Type, e.Data)
			r := ev.(*ticket.Reminded)
			got = append(got, fmt.Sprintf("%d/%s %s %v", r.Activation, r.Kind, r.Node, r.Handlers))
		}
	}
	want := []string{"2/due-soon second [bob]", "2/overdue second [bob]", "0/due-soon second [bob]", "0/overdue second [bob]"}
	if !slices.Equal(got, want) {
		t.Fatalf("reminders recorded %q, want %q", got, want)
	}
	if cl, _ := svc.Ticket(ctx, closed.State.ID); len(cl.State.Reminded) != 0 {
		t.Fatalf("the withdrawn ticket was reminded: %v", cl.State.Reminded)
	}

	dump := func() []string { return dumpReminders(t, ctx, pool) }
	before := dump()
	if len(before) != 0 {
		t.Fatalf("reminders left with every one sent or closed: %q", before)
	}
	step(t0.Add(31*time.Hour), func() (commands.TicketResult, error) {
		return svc.SubmitTicket(ctx, commands.SubmitTicket{Request: as("zhao"), Process: "whole", Fields: json.RawMessage(`{}`)})
	})
	if err := runner.WaitFor(ctx, scheduler.RemindersName, last, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	byEvent := dump()
	if len(byEvent) != 4 {
		t.Fatalf("a new ticket's reminders: %q, want its first node's two and its own two", byEvent)
	}
	rebuiltAlike(t, ctx, pool, store, reminders, byEvent)
}

// dumpReminders lists the reminders rows, one line each, sorted.
func dumpReminders(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT ticket_id || ' ' || activation || ' ' || kind || ' ' || node || ' ' || fire_at
		FROM `+projections.Schema(scheduler.RemindersName)+`.reminders ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rebuiltAlike rebuilds the reminders in one batch and fails t unless they are the rows
// folded event by event, byEvent.
func rebuiltAlike(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store *pgstore.Store, reminders *scheduler.Reminders, byEvent []string) {
	t.Helper()
	big, err := projections.NewRunner(pool, store, projections.Config{BatchSize: 1 << 20}, reminders)
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Rebuild(ctx, scheduler.RemindersName, nil); err != nil {
		t.Fatal(err)
	}
	if got := dumpReminders(t, ctx, pool); !slices.Equal(got, byEvent) {
		t.Fatalf("one batch:\n%s\nevent by event:\n%s", strings.Join(got, "\n"), strings.Join(byEvent, "\n"))
	}
}

// TestBacklogAfterAnOutage brings the scheduler back long after the due times of more
// tickets than one tick takes: every ticket still gets its overdue reminder, the stale
// due-soon ones, older in the queue, holding nothing back.
func TestBacklogAfterAnOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	env := newRemindersEnv(t, ctx, t0, projections.Config{})
	sched := scheduler.New(env.reminders, env.svc, scheduler.Config{Now: env.clk.Now, Batch: 2})
	var ids []string
	var last eventstore.Position
	for i := range 3 {
		env.clk.Set(t0.Add(time.Duration(i) * time.Minute))
		sub, err := env.svc.SubmitTicket(ctx, commands.SubmitTicket{Request: commands.Request{Caller: commands.Caller{ID: "wang"}}, Process: "sla", Fields: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids, last = append(ids, sub.State.ID), sub.Position
	}
	if err := env.runner.WaitFor(ctx, scheduler.RemindersName, last, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	env.clk.Set(t0.Add(48 * time.Hour))
	sent := 0
	for range 5 {
		n, err := sched.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
		head, err := env.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.runner.WaitFor(ctx, scheduler.RemindersName, head[0].Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if sent != len(ids) {
		t.Fatalf("%d reminders sent after the outage, want one overdue reminder for each of %d tickets", sent, len(ids))
	}
	for _, id := range ids {
		l, _ := env.svc.Ticket(ctx, id)
		if r := l.State.Reminded; len(r) != 1 || !r["1/"+ticket.Overdue] {
			t.Fatalf("ticket %s: reminders %v, want the overdue one", id, r)
		}
	}
}
