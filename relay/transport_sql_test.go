package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/relay"
)

// TestPruneConsumedTransportMessages: the SQL transport's messages go once every consumer
// group has consumed them, and stay while one lags.
func TestPruneConsumedTransportMessages(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tr := h.sqlTransport().(*relay.SQLTransport)
	rows := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM "watermill_`+relay.DefaultTopic+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A second consumer group joins and reads nothing. It is registered as Watermill's
	// subscriber registers one (its offsets row at the start) rather than by a subscriber
	// left unread: that subscriber would hold its transaction, which locked the offsets row
	// and so has a transaction id, open while it waits to hand over a message, and with it
	// the snapshot horizon of the whole cluster, which every consumer and every other
	// test's event log wait behind.
	if _, err := h.pool.Exec(ctx, `INSERT INTO "watermill_offsets_`+relay.DefaultTopic+`"
		(consumer_group, offset_acked, last_processed_transaction_id) VALUES ('lagging', 0, '0')`); err != nil {
		t.Fatal(err)
	}
	h.start(tr, fastDispatch())
	const n = 12
	h.outcomes(n, 4)
	waitFor(t, 20*time.Second, "the outcomes in the transport", func() bool { return rows() == n })
	waitFor(t, 20*time.Second, "the dispatchers to consume them", func() bool {
		var unconsumed int
		err := h.pool.QueryRow(ctx, `SELECT count(*) FROM "watermill_`+relay.DefaultTopic+`" m, "watermill_offsets_`+relay.DefaultTopic+`" o
			WHERE o.consumer_group = $1 AND (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)`,
			relay.DefaultConsumerGroup).Scan(&unconsumed)
		return err == nil && unconsumed == 0
	})
	if got, err := tr.Prune(ctx); err != nil || got != 0 || rows() != n {
		t.Fatalf("with a consumer group that read nothing, prune deleted %d (%v); %d left, want %d", got, err, rows(), n)
	}

	// The lagging group goes away: everything the dispatchers consumed goes.
	if _, err := h.pool.Exec(ctx, `DELETE FROM "watermill_offsets_`+relay.DefaultTopic+`" WHERE consumer_group = 'lagging'`); err != nil {
		t.Fatal(err)
	}
	var total int64
	waitFor(t, 20*time.Second, "the consumed messages to be pruned", func() bool {
		got, err := tr.Prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += got
		return rows() == 0
	})
	if total != n {
		t.Fatalf("prune deleted %d messages, want %d", total, n)
	}

	// New outcomes flow as before, and are pruned in turn.
	h.outcomes(3, 3)
	waitFor(t, 20*time.Second, "the new outcomes to be consumed and pruned", func() bool {
		if _, err := tr.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		var m int
		return h.pool.QueryRow(ctx, `SELECT count(*) FROM relay_messages`).Scan(&m) == nil && m == n+3 && rows() == 0
	})
}
