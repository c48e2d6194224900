package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// TestSQLPollReadsOneBatchOfABacklog: with a backlog of messages from several
// transactions, the subscriber's poll reads one batch from the topic's table, not the
// backlog, and the group still consumes every message once, in publication order.
func TestSQLPollReadsOneBatchOfABacklog(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const batch, txs, perTx = 10, 6, 40
	tr, err := NewSQLTransport(ctx, pool, SQLTransportConfig{BatchSize: batch, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var want []string
	for i := range txs {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*message.Message
		for j := range perTx {
			body := fmt.Sprintf("%d/%d", i, j)
			want = append(want, body)
			msgs = append(msgs, message.NewMessage(watermill.NewUUID(), []byte(body)))
		}
		if err := tr.Publish(ctx, tx, msgs...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The group's offsets row, as the subscriber writes it when it starts.
	if _, err := pool.Exec(ctx, `INSERT INTO "watermill_offsets_`+DefaultTopic+`"
		(consumer_group, offset_acked, last_processed_transaction_id) VALUES ($1, 0, '0')`, DefaultConsumerGroup); err != nil {
		t.Fatal(err)
	}

	// The poll, as the subscriber runs it, reads at most a batch of rows from the table,
	// once every transaction older than the messages' has ended: the tests of other
	// packages share the cluster, and their transactions hold back its horizon.
	table := `watermill_` + DefaultTopic
	for deadline := time.Now().Add(10 * time.Second); ; {
		var visible bool
		if err := pool.QueryRow(ctx, `SELECT max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()) FROM "`+table+`"`).Scan(&visible); err != nil {
			t.Fatal(err)
		}
		if visible {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the messages' transactions are still at or above the horizon after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	q, err := tr.schema.SelectQuery(wsql.SelectQueryParams{Topic: DefaultTopic, ConsumerGroup: DefaultConsumerGroup, OffsetsAdapter: consumerOffsets{}})
	if err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := pool.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+q.Query, q.Args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	read, returned := scannedRows(t, plan, table)
	if returned != batch || read > batch {
		t.Fatalf("with %d messages waiting, the poll read %d rows of %s and returned %d, want one batch of %d:\n%s", txs*perTx, read, table, returned, batch, plan)
	}

	ch, err := tr.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < len(want) {
		select {
		case m := <-ch:
			got = append(got, string(m.Payload))
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("consumed %d of %d messages, then nothing", len(got), len(want))
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d consumed is %q, want %q (publication order)", i, got[i], want[i])
		}
	}
	select {
	case m := <-ch:
		t.Fatalf("message %q consumed again", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

// scannedRows returns, from an EXPLAIN (ANALYZE, FORMAT JSON) plan, the rows the scans of
// table read (before any filter) and the rows the plan returned.
func scannedRows(t *testing.T, plan []byte, table string) (read, returned int) {
	t.Helper()
	type node struct {
		Relation string  `json:"Relation Name"`
		Rows     float64 `json:"Actual Rows"`
		Loops    float64 `json:"Actual Loops"`
		Removed  float64 `json:"Rows Removed by Filter"`
		Recheck  float64 `json:"Rows Removed by Index Recheck"`
		Plans    []json.RawMessage
	}
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var n node
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		if n.Relation == table {
			read += int((n.Rows + n.Removed + n.Recheck) * n.Loops)
		}
		for _, p := range n.Plans {
			walk(p)
		}
	}
	var top []struct {
		Plan json.RawMessage
	}
	if err := json.Unmarshal(plan, &top); err != nil || len(top) != 1 {
		t.Fatalf("not an EXPLAIN plan (%v): %s", err, plan)
	}
	var root node
	if err := json.Unmarshal(top[0].Plan, &root); err != nil {
		t.Fatal(err)
	}
	walk(top[0].Plan)
	return read, int(root.Rows)
}
