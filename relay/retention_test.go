package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/relay"
)

// TestPruneEndedDeliveries: retention deletes the deliveries that ended, their attempts
// and the messages nothing refers to any more, and keeps what is pending.
func TestPruneEndedDeliveries(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ok := newReceiver(t)
	h.register(ok, relay.NewEndpoint{})
	failing := newReceiver(t)
	failing.setRespond(func(received, http.ResponseWriter) int { return http.StatusInternalServerError })
	h.register(failing, relay.NewEndpoint{})
	run := h.start(h.sqlTransport(), fastDispatch())
	const n = 6 // approved, rejected, withdrawn, twice
	h.outcomes(n, 3)
	count := func(q string) int {
		t.Helper()
		var c int
		if err := h.pool.QueryRow(ctx, q).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor(t, 20*time.Second, "every delivery to end", func() bool {
		return count(`SELECT count(*) FROM relay_deliveries WHERE state = 'delivered'`) == n &&
			count(`SELECT count(*) FROM relay_deliveries WHERE state = 'dead'`) == n
	})
	if attempts := count(`SELECT count(*) FROM relay_attempts`); attempts < 2*n {
		t.Fatalf("%d attempts", attempts)
	}
	// The dead deliveries of the withdrawals are sent again, later: they are pending.
	run.stop()
	rows, err := h.pool.Query(ctx, `SELECT d.id FROM relay_deliveries d JOIN relay_messages m USING (event_id)
		WHERE d.state = 'dead' AND m.outcome = $1`, relay.OutcomeWithdrawn)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) != n/3 {
		t.Fatalf("dead withdrawals: %v, %v", ids, err)
	}
	for _, id := range ids {
		if _, err := h.store.Redeliver(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing ended before an hour ago.
	if res, err := h.store.Prune(ctx, time.Now().Add(-time.Hour)); err != nil || res != (relay.PruneResult{}) {
		t.Fatalf("prune before an hour ago: %+v, %v", res, err)
	}
	// Everything ended before an hour from now.
	res, err := h.store.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || res.Deliveries != 2*n-n/3 || res.Messages != n-n/3 {
		t.Fatalf("prune: %+v, %v; want %d deliveries and %d messages", res, err, 2*n-n/3, n-n/3)
	}
	if a, d, m := count(`SELECT count(*) FROM relay_attempts a LEFT JOIN relay_deliveries d ON d.id = a.delivery_id
			WHERE d.state IS DISTINCT FROM 'pending'`), count(`SELECT count(*) FROM relay_deliveries WHERE state = 'pending'`),
		count(`SELECT count(*) FROM relay_messages`); a != 0 || d != n/3 || m != n/3 || count(`SELECT count(*) FROM relay_deliveries`) != n/3 {
		t.Fatalf("left: %d attempts of ended deliveries, %d pending deliveries, %d messages; want 0, %d, %d", a, d, m, n/3, n/3)
	}
	if got := count(`SELECT count(*) FROM relay_messages WHERE outcome <> '` + relay.OutcomeWithdrawn + `'`); got != 0 {
		t.Fatalf("%d messages kept that no pending delivery refers to", got)
	}
}

// TestPruneAgesByTheLastEnd prunes by when a delivery ended in its present state: one
// delivered long ago, sent again and dead-lettered just now stays, to be redelivered; one
// delivered long ago goes.
func TestPruneAgesByTheLastEnd(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.register(newReceiver(t), relay.NewEndpoint{})
	run := h.start(h.sqlTransport(), fastDispatch())
	h.outcomes(2, 2)
	var ids []uuid.UUID
	waitFor(t, 20*time.Second, "both deliveries", func() bool {
		rows, err := h.pool.Query(ctx, `SELECT id FROM relay_deliveries WHERE state = 'delivered' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err == nil && len(ids) == 2
	})
	run.stop()
	long := time.Now().Add(-2 * time.Hour)
	if _, err := h.pool.Exec(ctx, `UPDATE relay_deliveries SET state = 'dead', delivered_at = $2, dead_at = now() WHERE id = $1`, ids[0], long); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE relay_deliveries SET delivered_at = $2 WHERE id = $1`, ids[1], long); err != nil {
		t.Fatal(err)
	}
	res, err := h.store.Prune(ctx, time.Now().Add(-time.Hour))
	if err != nil || res.Deliveries != 1 {
		t.Fatalf("prune: %+v, %v; want the one delivered long ago", res, err)
	}
	var left uuid.UUID
	if err := h.pool.QueryRow(ctx, `SELECT id FROM relay_deliveries`).Scan(&left); err != nil || left != ids[0] {
		t.Fatalf("left %v (%v), want the one dead just now, %v", left, err, ids[0])
	}
}
