package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
)

func handlerNames(hs []projections.Handler) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Principal)
	}
	return out
}

func TestApplyAndWaitFor(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		r := e.start(e.config(), e.standard()...)
		ctx := context.Background()
		tickets := projections.NewTickets(e.pool)

		res := e.submit("order-1", "500.00", "original")
		id := res.State.ID
		if err := r.WaitFor(ctx, projections.TicketsName, res.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		k, err := tickets.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != ticket.StatusInProgress || k.CurrentNode != "business" || k.System != "shop" || k.Submitter != "wang" ||
			k.BusinessKey != "order-1" || k.Version != 2 || k.Position != res.Position || k.DueAt.IsZero() ||
			!slices.Equal(handlerNames(k.Handlers), []string{"cs1", "cs2"}) || !slices.Equal(k.CC, []string{"boss"}) {
			t.Fatalf("after submission: %+v", k)
		}

		res = e.approve(id, as("cs2"))
		if err := r.WaitFor(ctx, projections.TicketsName, res.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		k, _ = tickets.Get(ctx, id)
		if k.CurrentNode != "finance" || !slices.Equal(handlerNames(k.Handlers), []string{"fin1", "fin2"}) {
			t.Fatalf("after the business approval: node %q, handlers %v", k.CurrentNode, k.Handlers)
		}
		for _, who := range []string{"fin2", "fin1", "cash1"} {
			res = e.approve(id, as(who))
		}
		if err := r.WaitFor(ctx, projections.TicketsName, res.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		k, _ = tickets.Get(ctx, id)
		if k.CurrentNode != "cashier" || !slices.Equal(handlerNames(k.Handlers), []string{"cash2"}) {
			t.Fatalf("sequential cashier node after cash1: node %q, handlers %v", k.CurrentNode, k.Handlers)
		}
		res = e.approve(id, as("cash2"))
		if _, err := e.svc.ReportExecution(ctx, commands.ReportExecution{Request: commands.Request{Caller: shop}, TicketID: id,
			Status: ticket.ExecutionSucceeded, Detail: "refunded"}); err != nil {
			t.Fatal(err)
		}
		e.sync(projections.TicketsName, journalName)
		k, _ = tickets.Get(ctx, id)
		if k.Status != ticket.StatusApproved || k.FinalAt.IsZero() || k.CurrentNode != "" || len(k.Handlers) != 0 ||
			k.Execution == nil || k.Execution.Status != ticket.ExecutionSucceeded || k.Execution.Detail != "refunded" {
			t.Fatalf("after the final approval: %+v", k)
		}
		entries, err := projections.NewTimeline(audit.New(e.store)).Of(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if int(k.Version) != len(entries) || entries[2].Type != ticket.TypeTaskApproved || entries[2].Actor != "cs2" ||
			entries[2].Node != "business" || entries[2].Source != "user" {
			t.Fatalf("timeline %+v", entries)
		}

		st := e.status(projections.TicketsName)
		if !st.Healthy || !st.Running || !st.CaughtUp || st.Checkpoint != e.head() || st.Lag.Events != 0 || st.Lag.Time != 0 ||
			st.EventsApplied != int64(k.Version) || st.LastEventAt.IsZero() {
			t.Fatalf("status %+v", st)
		}
		if _, err := tickets.Get(ctx, "no-such-ticket"); !domain.Is(err, domain.NotFound) {
			t.Fatalf("unknown ticket: %v", err)
		}
	})
}

func TestWaitForErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start(e.config(), e.standard()...)
	ctx := context.Background()
	res := e.submit("order-1", "50.00", "original")
	major, minor := res.Position.Parts()
	ahead := eventstore.MakePosition(major+1<<40, minor)
	start := time.Now()
	err := r.WaitFor(ctx, projections.TicketsName, ahead, 100*time.Millisecond)
	if !errors.Is(err, projections.ErrWaitTimeout) || !domain.Is(err, domain.Unavailable) {
		t.Fatalf("waiting for a position never reached: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Fatalf("the wait took %s", d)
	}
	if err := r.WaitFor(ctx, "nope", res.Position, time.Second); !errors.Is(err, projections.ErrUnknownProjection) {
		t.Fatalf("unknown projection: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.WaitFor(cctx, projections.TicketsName, ahead, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}

	// A runner that does not run the projection itself waits by reading the checkpoint.
	reader, err := projections.NewRunner(e.pool, e.store, projections.Config{WaitPoll: 5 * time.Millisecond}, e.standard()...)
	if err != nil {
		t.Fatal(err)
	}
	later := e.approve(res.State.ID, as("cs1"))
	if err := reader.WaitFor(ctx, projections.TicketsName, later.Position, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := reader.WaitFor(ctx, projections.TicketsName, ahead, 50*time.Millisecond); !errors.Is(err, projections.ErrWaitTimeout) {
		t.Fatalf("polling wait for a position never reached: %v", err)
	}
	if err := reader.Retry(projections.TicketsName); err != nil {
		t.Fatalf("retry on a runner that does not run: %v", err)
	}
	if err := reader.Retry("nope"); !errors.Is(err, projections.ErrUnknownProjection) {
		t.Fatalf("retry of an unknown projection: %v", err)
	}
}

// redelivering is a store whose subscriptions always start at the beginning of the log,
// as a subscription may redeliver what was already delivered.
type redelivering struct{ eventstore.Store }

func (s redelivering) Subscribe(ctx context.Context, _ eventstore.Position, f eventstore.Filter) (eventstore.Subscription, error) {
	return s.Store.Subscribe(ctx, eventstore.Start, f)
}

func TestRedeliverySkipped(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.store = redelivering{e.store}
		r := e.start(e.config(), e.standard()...)
		ctx := context.Background()
		id := e.submit("order-1", "50.00", "original").State.ID
		if _, err := e.svc.UrgeTicket(ctx, commands.UrgeTicket{Request: as("wang"), TicketID: id, Comment: "hurry"}); err != nil {
			t.Fatal(err)
		}
		e.sync(projections.TicketsName, journalName)
		before, _ := projections.NewTickets(e.pool).Get(ctx, id)
		applied := e.status(projections.TicketsName).EventsApplied

		// Restart: everything is delivered again and must be skipped.
		e.stop()
		e.start(e.config(), e.standard()...)
		_ = r
		e.approve(id, as("cs1"))
		e.sync(projections.TicketsName, journalName)
		after, err := projections.NewTickets(e.pool).Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if after.Urges != 1 || before.Urges != 1 || after.Version != before.Version+3 {
			t.Fatalf("urges %d then %d, version %d then %d", before.Urges, after.Urges, before.Version, after.Version)
		}
		if got := e.status(projections.TicketsName).EventsApplied; got != applied+3 {
			t.Fatalf("events applied %d, want %d: redelivered events were applied again", got, applied+3)
		}
		if n := e.journaled(id); uint64(n) != after.Version {
			t.Fatalf("%d journal entries for version %d", n, after.Version)
		}
	})
}

func TestFailingApplyStopsProjection(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		// The wrappers hide Queue: the runner applies event by event.
		poison := &failing{Projection: projections.NewTickets(e.pool)}
		r := e.start(e.config(), poison, &failing{Projection: projections.NewDelegations(e.pool)},
			&failing{Projection: journal{}})
		grantDelegations(t, e)
		ctx := context.Background()
		tickets := projections.NewTickets(e.pool)

		first := e.submit("order-1", "50.00", "original")
		e.sync(projections.TicketsName)
		before := e.checkpoint(projections.TicketsName)
		key := "order-2"
		poison.arm(ticket.Stream(commands.TicketIDFor("shop", "refund", key)))
		bad := e.submit(key, "50.00", "original")

		eventually(t, "the tickets projection to stop", func() bool {
			return !e.status(projections.TicketsName).Healthy
		})
		st := e.status(projections.TicketsName)
		if st.Running || !strings.Contains(st.Err, errPoison.Error()) || st.Checkpoint != before || st.Lag.Events == 0 {
			t.Fatalf("status of the stopped projection: %+v", st)
		}
		if got := e.checkpoint(projections.TicketsName); got != before {
			t.Fatalf("checkpoint moved from %s to %s", before, got)
		}
		if _, err := tickets.Get(ctx, bad.State.ID); !domain.Is(err, domain.NotFound) {
			t.Fatalf("the failing ticket was projected: %v", err)
		}
		if _, err := tickets.Get(ctx, first.State.ID); err != nil {
			t.Fatalf("the earlier ticket is gone: %v", err)
		}
		err := r.WaitFor(ctx, projections.TicketsName, bad.Position, time.Second)
		var ae *projections.ApplyError
		if !errors.Is(err, projections.ErrStopped) || !errors.As(err, &ae) || ae.Version != 1 || ae.Type != ticket.TypeSubmitted {
			t.Fatalf("waiting on a stopped projection: %v", err)
		}
		// The other projections go on.
		if err := r.WaitFor(ctx, journalName, bad.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if !e.status(journalName).Healthy {
			t.Fatal("the journal is unhealthy")
		}
		if n := e.logs.count("projection stopped"); n != 1 {
			t.Fatalf("the failure was logged %d times", n)
		}

		poison.arm("")
		if err := r.Retry(projections.TicketsName); err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(ctx, projections.TicketsName, bad.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := tickets.Get(ctx, bad.State.ID); err != nil {
			t.Fatal(err)
		}
		if st := e.status(projections.TicketsName); !st.Healthy || st.Err != "" {
			t.Fatalf("after retry: %+v", st)
		}

		// A rebuild that gets past the failing event restarts the stopped projection.
		key = "order-3"
		poison.arm(ticket.Stream(commands.TicketIDFor("shop", "refund", key)))
		third := e.submit(key, "50.00", "original")
		eventually(t, "the tickets projection to stop again", func() bool {
			return !e.status(projections.TicketsName).Healthy
		})
		poison.arm("")
		if err := r.Rebuild(ctx, projections.TicketsName, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(ctx, projections.TicketsName, third.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if st := e.status(projections.TicketsName); !st.Healthy || !st.Running {
			t.Fatalf("after the rebuild: %+v", st)
		}
		if err := r.Rebuild(ctx, "nope", nil); !errors.Is(err, projections.ErrUnknownProjection) {
			t.Fatalf("rebuild of an unknown projection: %v", err)
		}
		acting, err := projections.NewDelegations(e.pool).ActingFor(ctx, "dan", "", time.Now())
		if err != nil || len(acting) != 1 || acting[0].Principal != "fin2" {
			t.Fatalf("dan acts for %+v, %v", acting, err)
		}
		if acting, err := projections.NewDelegations(e.pool).ActingFor(ctx, "dan", "refund", time.Now()); err != nil || len(acting) != 0 {
			t.Fatalf("dan acts on refunds for %+v, %v", acting, err)
		}
		if acting, err := projections.NewDelegations(e.pool).ActingFor(ctx, "cara", "", time.Now()); err != nil || len(acting) != 0 {
			t.Fatalf("cara, revoked, acts for %+v, %v", acting, err)
		}
	})
}

func TestCrashBetweenRowsAndCheckpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		r := e.start(e.config(), e.standard()...)
		ctx := context.Background()
		first := e.submit("order-1", "50.00", "original")
		e.sync(projections.TicketsName)
		before := e.checkpoint(projections.TicketsName)

		// The checkpoint write fails after the rows were written in the same transaction.
		if _, err := e.pool.Exec(ctx, `CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.name = 'tickets' THEN RAISE EXCEPTION 'simulated crash'; END IF; RETURN NEW; END $$;
			CREATE TRIGGER crash BEFORE UPDATE ON projection_checkpoints FOR EACH ROW EXECUTE FUNCTION crash()`); err != nil {
			t.Fatal(err)
		}
		res := e.approve(first.State.ID, as("cs1"))
		second := e.submit("order-2", "50.00", "original")
		eventually(t, "the failure to show", func() bool {
			return strings.Contains(e.status(projections.TicketsName).Err, "simulated crash")
		})
		time.Sleep(100 * time.Millisecond)
		if got := e.checkpoint(projections.TicketsName); got != before {
			t.Fatalf("checkpoint moved from %s to %s", before, got)
		}
		var rows int
		if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rm_tickets.tickets WHERE id = $1)
			+ (SELECT count(*) FROM rm_tickets.tasks WHERE ticket_id = $2 AND status <> 'pending')`,
			second.State.ID, first.State.ID).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Fatalf("%d rows written without their checkpoint", rows)
		}

		if _, err := e.pool.Exec(ctx, `DROP TRIGGER crash ON projection_checkpoints`); err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(ctx, projections.TicketsName, second.Position, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		k, err := projections.NewTickets(e.pool).Get(ctx, first.State.ID)
		if err != nil || k.Position != res.Position || k.CurrentNode != "cashier" {
			t.Fatalf("after recovery: %+v, %v", k, err)
		}
		if st := e.status(projections.TicketsName); !st.Healthy {
			t.Fatalf("after recovery: %+v", st)
		}
		if e.logs.count("projection interrupted") != 1 || e.logs.count("projection resumed") != 1 {
			t.Fatalf("logs:\n%s", e.logs.buf.String())
		}
	})
}

func TestResumeAfterRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.start(e.config(), e.standard()...)
		ctx := context.Background()
		a := e.submit("order-1", "50.00", "original")
		e.sync(projections.TicketsName, journalName)
		e.stop()

		e.approve(a.State.ID, as("cs1"))
		b := e.submit("order-2", "800.00", "alipay")
		idle, err := projections.NewRunner(e.pool, e.store, e.config(), e.standard()...)
		if err != nil {
			t.Fatal(err)
		}
		var st projections.Status
		eventually(t, "the status to see the head of the log", func() bool {
			sts, err := idle.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st = sts[0]
			return st.Head == e.head()
		})
		if st.Running || !st.Healthy || st.Lag.Events < 5 || st.Lag.Time <= 0 {
			t.Fatalf("status while stopped: %+v", st)
		}

		e.start(e.config(), e.standard()...)
		e.sync(projections.TicketsName, journalName)
		tickets := projections.NewTickets(e.pool)
		ka, _ := tickets.Get(ctx, a.State.ID)
		kb, err := tickets.Get(ctx, b.State.ID)
		if err != nil || ka.CurrentNode != "cashier" || kb.CurrentNode != "business" {
			t.Fatalf("after restart: %+v / %+v, %v", ka, kb, err)
		}
		evs, err := e.store.ReadAll(ctx, eventstore.ReadAllOptions{Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.status(projections.TicketsName).EventsApplied; got != int64(len(evs)) {
			t.Fatalf("applied %d events, the log holds %d", got, len(evs))
		}
	})
}

func TestNewRunnerRejectsBadNames(t *testing.T) {
	e := &env{}
	if _, err := projections.NewRunner(nil, nil, projections.Config{}, projections.NewTickets(nil), projections.NewTickets(nil)); err == nil {
		t.Fatal("a projection given twice was accepted")
	}
	if _, err := projections.NewRunner(nil, nil, projections.Config{}, renamed{journal{}, "Bad-Name"}); err == nil {
		t.Fatal("an invalid name was accepted")
	}
	_ = e
}

type renamed struct {
	projections.Projection
	name string
}

func (r renamed) Name() string { return r.name }

// TestLiveBatchesAtOnce: live batches are written in one round trip (start, claim,
// writes, checkpoint, commit) once their statements are prepared on the connection, and
// the tables match the log. A batch on a connection new to a projection's statements is
// written the slow way, which prepares them; on a loaded machine the rounds may come as
// few large batches, each on another pool connection, so the test drives rounds until
// both projections wrote one at once, up to a bound.
func TestLiveBatchesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	grantDelegations(t, e)
	r := e.start(e.config(), e.standard()...)
	names := []string{projections.TicketsName, journalName}
	allAtOnce := func() bool {
		for _, name := range names {
			if atOnce, _, _ := projections.LiveWrites(r, name); atOnce == 0 {
				return false
			}
		}
		return true
	}
	var ids []string
	for round := 0; round < 3 || round < 20 && !allAtOnce(); round++ {
		more, err := driveKeys(e, fmt.Sprintf("round%d", round), 8, uint64(60+round))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, more...)
		e.sync(names...)
	}
	checkAgainstLog(t, e, ids)
	for _, name := range names {
		atOnce, slowly, refused := projections.LiveWrites(r, name)
		t.Logf("%s: %d at once, %d slowly (%d after failing at once)", name, atOnce, slowly, refused)
		if atOnce == 0 {
			t.Errorf("%s: no live batch was written in one round trip (%d the slow way)", name, slowly)
		}
		// A batch fails at once only when another process moved the checkpoint: one with a
		// statement new to its connection goes the slow way unsent, and the first batch of
		// the new projection claims the checkpoint never written.
		if refused != 0 {
			t.Errorf("%s: %d live batches failed in one round trip and went the slow way", name, refused)
		}
	}
}

// TestClaim: projection_claim locks the checkpoint row where it is expected and refuses
// any other position, and a missing row, with SQLSTATE TLCP1.
func TestClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start(e.config(), e.standard()...)
	res := e.submit("order-claim", "10.00", "original")
	if err := r.WaitFor(context.Background(), projections.TicketsName, res.Position, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var stored string
	if err := e.pool.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE name = $1`, projections.TicketsName).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	claim := func(name, expected string) error {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `SELECT public.projection_claim($1, $2)`, name, expected)
		return err
	}
	if err := claim(projections.TicketsName, stored); err != nil {
		t.Fatalf("claim at the stored position %s: %v", stored, err)
	}
	// A checkpoint never written is at the start of the log, however it is written out.
	if _, err := e.pool.Exec(ctx, `INSERT INTO projection_checkpoints (name) VALUES ('fresh')`); err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{"", eventstore.Start.String()} {
		if err := claim("fresh", start); err != nil {
			t.Errorf("claim a checkpoint never written at %q: %v", start, err)
		}
	}
	for _, c := range []struct{ name, expected string }{
		{projections.TicketsName, ""}, {projections.TicketsName, stored + "0"}, {"no-such-projection", ""},
		{"fresh", stored},
	} {
		var pgErr *pgconn.PgError
		if err := claim(c.name, c.expected); !errors.As(err, &pgErr) || pgErr.Code != "TLCP1" {
			t.Errorf("claim %s at %q: %v, want SQLSTATE TLCP1", c.name, c.expected, err)
		}
	}
}

// TestHandlersReadByTicketKey checks the plan of the handlers query next to many pending
// tasks of other tickets: it reads the ticket's tasks by the table's key, not by walking
// the index of every pending task.
func TestHandlersReadByTicketKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.config(), e.standard()...)
	res := e.submit("order-plan", "10.00", "original")
	e.sync(projections.TicketsName)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `INSERT INTO rm_tickets.tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee, status, created_at, pending_since)
		SELECT 'other-' || (i % 1000), '1.' || i, 1, 0, 'finance', 'refund', 'approver-' || (i % 50), 'pending', now(), now()
		FROM generate_series(1, 5000) i`); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `EXPLAIN `+projections.HandlersSQL, res.State.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	if strings.Contains(all, "tasks_pending_idx") || !strings.Contains(all, "tasks_pkey") {
		t.Fatalf("the handlers of one ticket are not read by the key of tasks:\n%s", all)
	}
	k, err := projections.NewTickets(e.pool).Get(ctx, res.State.ID)
	if err != nil || !slices.Equal(handlerNames(k.Handlers), []string{"cs1", "cs2"}) {
		t.Fatalf("the ticket's handlers: %+v, %v", k.Handlers, err)
	}
}

// spacedJournal is the journal under another name, its live batches spaced an hour apart
// (projections.Spaced).
type spacedJournal struct{ journal }

const spacedJournalName = "spaced_journal"

func (spacedJournal) Name() string                 { return spacedJournalName }
func (spacedJournal) WriteInterval() time.Duration { return time.Hour }

// TestSpacedProjection: once caught up, a Spaced projection writes the events that arrive
// within its interval of its last batch only when they fill a batch, while the others
// write each at once; the events it holds are not lost when its runner stops, but
// written by the next from the checkpoint.
func TestSpacedProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.config()
	cfg.BatchSize = 10
	e.start(cfg, journal{}, spacedJournal{})
	for deadline := time.Now().Add(30 * time.Second); !e.status(spacedJournalName).CaughtUp; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the spaced journal did not catch up")
		}
	}
	before := e.status(spacedJournalName).Checkpoint

	// Three tickets, two events each: fewer than a batch, held.
	var ids []string
	for i := range 3 {
		ids = append(ids, e.submit(fmt.Sprintf("spaced-%d", i), "100.00", "original").State.ID)
	}
	e.sync(journalName)
	time.Sleep(300 * time.Millisecond)
	if got := e.status(spacedJournalName).Checkpoint; got != before {
		t.Fatalf("the spaced journal wrote a batch of 6 events at %s within its interval", got)
	}
	for _, id := range ids {
		if n := e.journaled(id); n != 2 {
			t.Fatalf("the journal holds %d events of %s, want 2", n, id)
		}
	}

	// Three more fill a batch of ten, written at once; the other two events stay held.
	var tenth eventstore.Position
	for i := 3; i < 6; i++ {
		res := e.submit(fmt.Sprintf("spaced-%d", i), "100.00", "original")
		ids = append(ids, res.State.ID)
		if i == 4 {
			tenth = res.Position
		}
	}
	if err := e.runner.WaitFor(ctx, spacedJournalName, tenth, 30*time.Second); err != nil {
		t.Fatalf("a full batch was not written: %v", err)
	}
	e.sync(journalName)
	last := e.head()
	time.Sleep(300 * time.Millisecond)
	if got := e.status(spacedJournalName).Checkpoint; !got.Before(last) {
		t.Fatalf("the spaced journal reached %s, the head, within its interval with 2 events short of a batch", got)
	}

	// Stopped and started again, it writes what it held on catching up.
	e.stop()
	e.start(cfg, journal{}, spacedJournal{})
	e.sync(journalName, spacedJournalName)
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM rm_spaced_journal.entries WHERE ticket_id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2*len(ids) {
		t.Fatalf("the spaced journal holds %d events of the %d tickets, want %d", n, len(ids), 2*len(ids))
	}
}
