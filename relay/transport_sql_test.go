package relay_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

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

	// A second consumer group joins and reads nothing: its offsets row is written as
	// Watermill's subscriber writes it when it starts.
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

// TestSQLConsumerHoldsNoTransactionID: while a message of the SQL transport waits to be
// acknowledged, no transaction of the database holds a transaction id (the consuming one
// would hold back every reader of an event log in the cluster), and a second subscriber
// of the same consumer group gets nothing until the first has acknowledged its batch.
func TestSQLConsumerHoldsNoTransactionID(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publisher := h.sqlTransport()
	publish := func(body string) {
		t.Helper()
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := publisher.Publish(ctx, tx, message.NewMessage(watermill.NewUUID(), []byte(body))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(ch <-chan *message.Message, within time.Duration) *message.Message {
		t.Helper()
		select {
		case m := <-ch:
			return m
		case <-time.After(within):
			return nil
		}
	}
	holders := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	publish("first")
	first, err := h.sqlTransport().Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(first, 10*time.Second)
	if m == nil || string(m.Payload) != "first" {
		t.Fatalf("the first subscriber got %v, want the message published", m)
	}
	if n := holders(); n != 0 {
		t.Fatalf("%d transactions hold a transaction id while a message waits for its acknowledgement, want none", n)
	}

	// A second member of the group, meanwhile, gets nothing: not the held message again,
	// nor one published after it.
	publish("second")
	second, err := h.sqlTransport().Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(second, 500*time.Millisecond); got != nil {
		t.Fatalf("a second subscriber of the group got %q while the first held its batch", got.Payload)
	}
	if n := holders(); n != 0 {
		t.Fatalf("%d transactions hold a transaction id while two subscribers wait, want none", n)
	}

	// Once acknowledged, the group moves on: "second" is consumed, by either member. A
	// member whose poll began just before the acknowledgement committed may still read the
	// old offset and hand "first" and "second" over once more, its own acknowledgement then
	// failing (the race consumerOffsets documents; the intake is idempotent): at most one
	// repeat of each, and never more than that.
	m.Ack()
	var got []string
	for _, ch := range []<-chan *message.Message{first, second} {
		for {
			m := receive(ch, 300*time.Millisecond)
			if m == nil {
				break
			}
			got = append(got, string(m.Payload))
			m.Ack()
		}
	}
	times := map[string]int{}
	for _, g := range got {
		times[g]++
	}
	if times["second"] < 1 || times["second"] > 2 || times["first"] > 1 || len(times) > 2 {
		t.Fatalf("after the acknowledgement the group got %q, want [second] (or the race's repeat: first, second, second)", got)
	}
}

// TestIntakeCommitsWithTheOffset: the outcomes of a batch of the SQL transport's messages,
// and their deliveries, are recorded by the statement that moves the consumer group's
// offset, in the transaction that consumes the batch; should that statement fail, the
// batch is handed over again, and every outcome still gets one delivery, delivered once.
func TestIntakeCommitsWithTheOffset(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	// intake_probe logs whether each delivery is created in the consuming transaction
	// (Watermill's, at repeatable read; the others run at read committed), and refuses
	// the first two statements that create one there (the sequence, unlike the log,
	// outlives their rollback).
	if _, err := h.pool.Exec(ctx, `
		CREATE TABLE intake_log (event_id uuid NOT NULL, inside boolean NOT NULL);
		CREATE SEQUENCE intake_refusals;
		CREATE FUNCTION intake_probe() RETURNS trigger LANGUAGE plpgsql AS $$
		DECLARE
			inside boolean := current_setting('transaction_isolation') = 'repeatable read';
		BEGIN
			IF inside AND current_setting('intake.refused', true) IS DISTINCT FROM 'yes' AND nextval('intake_refusals') <= 2 THEN
				RAISE EXCEPTION 'delivery refused in the consuming transaction';
			END IF;
			PERFORM set_config('intake.refused', 'yes', true);
			INSERT INTO intake_log VALUES (NEW.event_id, inside);
			RETURN NEW;
		END $$;
		CREATE TRIGGER intake_probe BEFORE INSERT ON relay_deliveries FOR EACH ROW EXECUTE FUNCTION intake_probe()`); err != nil {
		t.Fatal(err)
	}
	unconsumed := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM "watermill_`+relay.DefaultTopic+`" m
			LEFT JOIN "watermill_offsets_`+relay.DefaultTopic+`" o ON o.consumer_group = $1
			WHERE o.consumer_group IS NULL OR (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)`,
			relay.DefaultConsumerGroup).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	h.start(h.sqlTransport(), fastDispatch())

	ids := h.outcomes(16, 4)
	waitFor(t, 30*time.Second, "every outcome to be delivered and consumed", func() bool {
		return h.countState(e.ID, relay.Delivered) == 16 && unconsumed() == 0
	})
	eachTicketOnce(t, rcv, ids)

	var refusals, deliveries, tickets int
	if err := h.pool.QueryRow(ctx, `SELECT last_value FROM intake_refusals`).Scan(&refusals); err != nil || refusals < 2 {
		t.Fatalf("%d statements were refused in the consuming transaction (%v), want 2", refusals, err)
	}
	if err := h.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT ticket_id) FROM relay_deliveries`).Scan(&deliveries, &tickets); err != nil ||
		deliveries != 16 || tickets != 16 {
		t.Fatalf("%d deliveries of %d tickets (%v), want one for each of 16", deliveries, tickets, err)
	}
	var alone, inside int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT l.inside), count(*) FILTER (WHERE l.inside)
		FROM intake_log l JOIN relay_deliveries d ON d.event_id = l.event_id`).Scan(&alone, &inside); err != nil {
		t.Fatal(err)
	}
	if alone != 0 || inside != 16 {
		t.Fatalf("deliveries: %d created outside the consuming transaction, %d in it; want none and 16", alone, inside)
	}
}

// TestIntakeOneStatementPerBatch: the dispatcher takes a batch of the SQL transport's
// messages in with one statement, in the transaction that consumes them.
func TestIntakeOneStatementPerBatch(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	if _, err := h.pool.Exec(ctx, `
		CREATE TABLE intake_log (event_id uuid NOT NULL, xact xid8 NOT NULL, statement timestamptz NOT NULL);
		CREATE FUNCTION intake_probe() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO intake_log VALUES (NEW.event_id, pg_current_xact_id(), statement_timestamp());
			RETURN NEW;
		END $$;
		CREATE TRIGGER intake_probe BEFORE INSERT ON relay_deliveries FOR EACH ROW EXECUTE FUNCTION intake_probe()`); err != nil {
		t.Fatal(err)
	}
	// The outcomes are relayed before any dispatcher runs, and the dispatcher starts once a
	// reader of the topic sees them all: the first batch holds them all. (A reader sees a
	// message once no transaction older than it runs anywhere in the cluster, a test's in
	// another database included; counting the rows alone would start the dispatcher early.)
	tr := h.sqlTransport()
	r, err := relay.New(h.events, h.store, tr, relay.RelayConfig{RetryDelay: 200 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, "relay", r.Run)
	ids := h.outcomes(12, 4)
	waitFor(t, 20*time.Second, "the outcomes relayed", func() bool {
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM "watermill_`+relay.DefaultTopic+`"
			WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 12
	})
	d, err := relay.NewDispatcher(h.store, tr, fastDispatch())
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, "dispatcher", d.Run)
	waitFor(t, 20*time.Second, "every outcome delivered", func() bool { return h.countState(e.ID, relay.Delivered) == 12 })
	eachTicketOnce(t, rcv, ids)
	var xacts, statements, rows int
	if err := h.pool.QueryRow(ctx, `SELECT count(DISTINCT xact), count(DISTINCT (xact, statement)), count(*) FROM intake_log`).Scan(&xacts, &statements, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != 12 || xacts != 1 || statements != 1 {
		t.Fatalf("12 outcomes' deliveries: %d created in %d transactions by %d statements, want 12 in 1 by 1", rows, xacts, statements)
	}
}

// TestDispatcherStopsBetweenMessages: a dispatcher stopped while it records an outcome in
// the transport's consuming transaction finishes with that transaction before the
// transport commits or rolls it back, and a dispatcher started after it records and
// delivers every outcome once. (The transport stops waiting for a message once its own
// context ends; were that context the dispatcher's, it would end the transaction under
// the statement still running in it, on the same connection.)
func TestDispatcherStopsBetweenMessages(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	// Each outcome recorded in the consuming transaction (Watermill's, at repeatable read)
	// takes 20ms, so that a stop most likely finds a statement running there.
	if _, err := h.pool.Exec(ctx, `
		CREATE FUNCTION intake_slow() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF current_setting('transaction_isolation') = 'repeatable read' THEN
				PERFORM pg_sleep(0.02);
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER intake_slow BEFORE INSERT ON relay_messages FOR EACH ROW EXECUTE FUNCTION intake_slow()`); err != nil {
		t.Fatal(err)
	}
	recorded := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM relay_messages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tr := h.sqlTransport()
	first := h.start(tr, fastDispatch())
	ids := h.outcomes(30, 6)
	waitFor(t, 20*time.Second, "a few outcomes to be recorded", func() bool { return recorded() >= 3 })
	first.stop()
	if n := recorded(); n == 30 {
		t.Logf("every outcome was recorded before the stop; the stop found no statement running")
	}
	h.start(h.sqlTransport(), fastDispatch())
	waitFor(t, 30*time.Second, "every outcome to be recorded and delivered", func() bool {
		return recorded() == 30 && h.countState(e.ID, relay.Delivered) == 30
	})
	eachTicketOnce(t, rcv, ids)
}

// TestSQLSubscriptionEndsWithItsBatchCommitted: a subscription whose context ends while a
// message is out, unacknowledged (a dispatcher stopping), commits the acknowledgements of
// the batch's earlier messages and logs no error; the next subscriber of the group gets
// the unacknowledged message, not those before it.
func TestSQLSubscriptionEndsWithItsBatchCommitted(t *testing.T) {
	pool := newHarness(t).pool
	ctx := context.Background()
	var logged lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tr, err := relay.NewSQLTransport(ctx, pool, relay.SQLTransportConfig{PollInterval: 20 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*message.Message
	for _, body := range []string{"a", "b", "c"} {
		msgs = append(msgs, message.NewMessage(watermill.NewUUID(), []byte(body)))
	}
	if err := tr.Publish(ctx, tx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	receive := func(ch <-chan *message.Message) *message.Message {
		t.Helper()
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatal("the subscription ended early")
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message within 10 s")
		}
		return nil
	}

	subCtx, stop := context.WithCancel(ctx)
	ch, err := tr.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a", "b"} {
		m := receive(ch)
		if string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		}
		// The acknowledgement is recorded in the batch's transaction, as the intake does.
		if _, ok := wsql.TxFromContext(m.Context()); !ok {
			t.Fatal("the message comes without its transaction")
		}
		m.Ack()
	}
	if m := receive(ch); string(m.Payload) != "c" {
		t.Fatalf("got %q, want c", m.Payload)
	}
	stop() // "c" is never acknowledged
	for deadline := time.After(10 * time.Second); ; {
		select {
		case _, ok := <-ch:
			if ok {
				continue
			}
		case <-deadline:
			t.Fatal("the subscription did not end within 10 s of its context")
		}
		break
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if s := logged.String(); s != "" {
		t.Fatalf("the subscription's end logged:\n%s", s)
	}

	next, err := relay.NewSQLTransport(ctx, pool, relay.SQLTransportConfig{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	ch2, err := next.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := receive(ch2); string(m.Payload) != "c" {
		t.Fatalf("the next subscriber got %q first, want c (a and b were acknowledged)", m.Payload)
	} else {
		m.Ack()
	}
	select {
	case m := <-ch2:
		t.Fatalf("the next subscriber got %q too", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}
