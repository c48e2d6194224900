package projections_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// TestSetWritesMatchEventByEvent holds the set statements and the fold of a batch, in a
// rebuild's replay and in live batches, to the rows that applying the log one event at a
// time (through the statements alone) leaves.
func TestSetWritesMatchEventByEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := 80
	if testing.Short() {
		n = 24
	}
	grantDelegations(t, e)
	ids := drive(t, e, n, 21)
	evs := e.log()
	folded, fresh, err := projections.FoldedShare(evs)
	if err != nil {
		t.Fatal(err)
	}
	if fresh != n || folded < fresh*9/10 {
		t.Fatalf("the fold writes %d of %d tickets (%d in the log)", folded, fresh, n)
	}

	one := e.config()
	one.BatchSize = 1
	e.start(one, e.standard()...)
	e.sync(projections.TicketsName, journalName)
	checkAgainstLog(t, e, ids)
	names := []string{projections.TicketsName, journalName}
	want := map[string]map[string][]string{}
	for _, name := range names {
		want[name] = dump(t, e, projections.Schema(name))
	}

	same := func(what, name string) {
		t.Helper()
		got := dump(t, e, projections.Schema(name))
		for tbl := range want[name] {
			if !reflect.DeepEqual(want[name][tbl], got[tbl]) {
				t.Fatalf("%s: %s.%s differs from the event-by-event rows:\n%s", what, name, tbl, diffRows(want[name][tbl], got[tbl]))
			}
		}
		if len(got) != len(want[name]) {
			t.Fatalf("%s: tables %v, want %v", what, got, want[name])
		}
	}

	// Live batches: the tickets projection emptied and caught up again from the start of
	// the log, in batches that hold whole tickets, as under load.
	e.stop()
	if _, err := e.pool.Exec(ctx, `TRUNCATE rm_tickets.tickets, rm_tickets.nodes, rm_tickets.cc, rm_tickets.tasks, rm_tickets.activations`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE projection_checkpoints SET position = '' WHERE name = $1`, projections.TicketsName); err != nil {
		t.Fatal(err)
	}
	live := e.config()
	live.BatchSize = 64
	e.start(live, e.standard()...)
	e.sync(projections.TicketsName)
	same("live batches", projections.TicketsName)
	e.stop()

	for _, c := range []struct {
		what           string
		batch, writers int
	}{{"one batch", 1 << 20, 1}, {"small batches", 7, 3}} {
		cfg := e.config()
		cfg.BatchSize, cfg.RebuildWorkers = c.batch, c.writers
		r, err := projections.NewRunner(e.pool, e.store, cfg, e.standard()...)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := r.Rebuild(ctx, name, nil); err != nil {
				t.Fatalf("%s: rebuild %s: %v", c.what, name, err)
			}
			same(c.what, name)
		}
	}
}

// diffRows lists the rows only one of a and b (sorted) holds, up to ten of each.
func diffRows(a, b []string) string {
	only := func(x, y []string) []string {
		in := map[string]int{}
		for _, r := range y {
			in[r]++
		}
		var out []string
		for _, r := range x {
			if in[r] > 0 {
				in[r]--
				continue
			}
			if len(out) < 10 {
				out = append(out, r)
			}
		}
		return out
	}
	return fmt.Sprintf("only event by event:\n  %s\nonly here:\n  %s", strings.Join(only(a, b), "\n  "), strings.Join(only(b, a), "\n  "))
}

// TestSetBatchFailureNamesTheEvent: a batch written by set statements that the database
// refuses, or that holds an event the projection cannot decode, stops the projection on
// the event at fault, as event by event.
func TestSetBatchFailureNamesTheEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.start(e.config(), e.standard()...)
	var ids []string
	ids = append(ids, e.submit("order-0", "50.00", "original").State.ID)
	e.sync(projections.TicketsName)
	before := e.checkpoint(projections.TicketsName)
	e.stop()

	// While the runner is stopped, tickets pile up, to be written in one batch; the
	// database refuses the tasks of one of them.
	var results []commands.TicketResult
	for i := 1; i <= 5; i++ {
		res := e.submit(fmt.Sprintf("order-%d", i), "50.00", "original")
		results = append(results, res)
		ids = append(ids, res.State.ID)
	}
	bad := results[2]
	if _, err := e.pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.ticket_id = '`+bad.State.ID+`' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON rm_tickets.tasks FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	r := e.start(e.config(), e.standard()...)
	err := r.WaitFor(ctx, projections.TicketsName, results[4].Position, 30*time.Second)
	var ae *projections.ApplyError
	if !errors.Is(err, projections.ErrStopped) || !errors.As(err, &ae) || ae.Stream != ticket.Stream(bad.State.ID) ||
		ae.Type != ticket.TypeNodeActivated || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("waiting on a refused batch: %v", err)
	}
	if got := e.checkpoint(projections.TicketsName); got != before {
		t.Fatalf("the checkpoint moved from %s to %s past a refused batch", before, got)
	}
	if _, err := e.pool.Exec(ctx, `DROP TRIGGER refuse ON rm_tickets.tasks`); err != nil {
		t.Fatal(err)
	}
	if err := r.Retry(projections.TicketsName); err != nil {
		t.Fatal(err)
	}
	e.sync(projections.TicketsName, journalName)
	checkAgainstLog(t, e, ids)

	// An event the projection cannot decode, among others in one batch.
	e.stop()
	e.approve(ids[1], as("cs1"))
	broken, err := e.store.Append(ctx, ticket.Stream(ids[2]), eventstore.Any,
		eventstore.EventData{ID: uuid.New(), Type: ticket.TypeUrged, Data: []byte(`{"by":`)})
	if err != nil {
		t.Fatal(err)
	}
	e.approve(ids[3], as("cs2"))
	r = e.start(e.config(), e.standard()...)
	err = r.WaitFor(ctx, projections.TicketsName, e.head(), 30*time.Second)
	if !errors.Is(err, projections.ErrStopped) || !errors.As(err, &ae) || ae.Stream != ticket.Stream(ids[2]) ||
		ae.Version != broken.Version || ae.Type != ticket.TypeUrged {
		t.Fatalf("waiting on an undecodable event: %v", err)
	}
}
