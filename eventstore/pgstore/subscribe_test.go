package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// lateTransaction opens a transaction on its own connection and has it take a
// transaction id at once; append then writes one event in it, and commit commits it.
type lateTransaction struct {
	t    *testing.T
	conn *pgx.Conn
	tx   pgx.Tx
	xid  uint64
}

func beginLate(t *testing.T, url string) *lateTransaction {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := &lateTransaction{t: t, conn: conn, tx: tx}
	if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&l.xid); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *lateTransaction) append(stream string) {
	l.t.Helper()
	e := newEvents("t.late", 1)[0]
	if _, err := l.tx.Exec(testContext(l.t), appendStatements[1][expectNoStream], stream, uuid.New(), e.Type, e.Data, e.Metadata); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lateTransaction) commit() {
	l.t.Helper()
	if err := l.tx.Commit(testContext(l.t)); err != nil {
		l.t.Fatal(err)
	}
}

// TestHorizonHoldsBackLaterCommits: a transaction takes its id, then another appends and
// commits, then the first appends (at a later row position) and commits late. Readers of
// the global log must not see the second event while the first transaction runs, and
// must then deliver both in transaction id order.
func TestHorizonHoldsBackLaterCommits(t *testing.T) {
	t.Parallel()
	s, url := openStore(t, Config{PollInterval: time.Hour, VisibilityWait: 50 * time.Millisecond})
	ctx := testContext(t)
	live, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if m := receive(t, live, 10*time.Second); m.Kind != eventstore.CaughtUpMessage {
		t.Fatalf("first message of a subscription to an empty log: %v, want CaughtUp", m.Kind)
	}

	late := beginLate(t, url)
	early := mustAppend(t, s, "early", eventstore.NoStream, newEvents("t.early", 1)...)
	late.append("late")
	if major, _ := early.Position.Parts(); major <= late.xid {
		t.Fatalf("the early append got transaction id %d, not after the late transaction's %d", major, late.xid)
	}

	catchingUp, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer catchingUp.Close()
	expectQuiet(t, live, 300*time.Millisecond)
	select {
	case m := <-catchingUp.Messages():
		t.Fatalf("a subscription started behind the open transaction sent %v at %s", m.Kind, m.Position)
	default:
	}
	if evs, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 10}); err != nil || len(evs) != 0 {
		t.Fatalf("read all behind the open transaction: %d events, %v; want none", len(evs), err)
	}

	late.commit()
	for name, sub := range map[string]eventstore.Subscription{"live": live, "catching up": catchingUp} {
		first := receiveEvent(t, sub, 10*time.Second)
		second := receiveEvent(t, sub, 10*time.Second)
		if first.Stream != "late" || second.Stream != "early" || !second.Position.After(first.Position) {
			t.Fatalf("%s: delivered %s at %s then %s at %s; want late, then early", name, first.Stream, first.Position, second.Stream, second.Position)
		}
		if _, lateRow := first.Position.Parts(); func() bool { _, earlyRow := second.Position.Parts(); return lateRow < earlyRow }() {
			t.Fatalf("%s: the late event's row position is not after the early one's; the test proves nothing", name)
		}
	}
	if m := receive(t, catchingUp, 10*time.Second); m.Kind != eventstore.CaughtUpMessage || m.Position != early.Position {
		t.Fatalf("after both events: %v at %s, want CaughtUp at %s", m.Kind, m.Position, early.Position)
	}
	evs, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 10})
	if err != nil || len(evs) != 2 || evs[0].Stream != "late" || evs[1].Stream != "early" {
		t.Fatalf("read all after the late commit: %v, %v; want late then early", evs, err)
	}
}

// TestReadAllWaitsForTheHorizon: a read that starts while an earlier transaction hides a
// committed event returns it once that transaction ends within Config.VisibilityWait.
func TestReadAllWaitsForTheHorizon(t *testing.T) {
	t.Parallel()
	s, url := openStore(t, Config{VisibilityWait: 10 * time.Second})
	ctx := testContext(t)
	late := beginLate(t, url)
	mustAppend(t, s, "early", eventstore.NoStream, newEvents("t.early", 1)...)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		time.Sleep(200 * time.Millisecond)
		_ = late.tx.Rollback(context.Background())
	}()
	defer func() { <-ended }()
	began := time.Now()
	evs, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil || len(evs) != 1 || evs[0].Stream != "early" {
		t.Fatalf("read all: %v, %v; want the early event", evs, err)
	}
	if waited := time.Since(began); waited < 150*time.Millisecond {
		t.Fatalf("read all returned after %s, before the hiding transaction ended", waited)
	}
}

// TestFilterPrefixesAreLiteral: LIKE metacharacters in prefixes match only themselves.
func TestFilterPrefixesAreLiteral(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	streams := []string{`a%b-1`, `axb-1`, `a_b-1`, `acb-1`, `a\b-1`, `ab-1`, `A%B-1`}
	for _, stream := range streams {
		mustAppend(t, s, stream, eventstore.NoStream, newEvents("t.created", 1)...)
	}
	for _, typ := range []string{"t%x", "tax", "t_x", "tbx"} {
		mustAppend(t, s, "types", eventstore.Any, newEvents(typ, 1)...)
	}
	cases := []struct {
		filter eventstore.Filter
		want   []string
	}{
		{eventstore.Filter{StreamPrefixes: []string{`a%b`}}, []string{`a%b-1`}},
		{eventstore.Filter{StreamPrefixes: []string{`a_b`, `a\b`}}, []string{`a_b-1`, `a\b-1`}},
		{eventstore.Filter{StreamPrefixes: []string{`a%`}}, []string{`a%b-1`}},
		{eventstore.Filter{TypePrefixes: []string{`t%`, `t_`}}, []string{"types:t%x", "types:t_x"}},
		{eventstore.Filter{StreamPrefixes: []string{`ty`}, TypePrefixes: []string{`tb`}}, []string{"types:tbx"}},
	}
	for _, tc := range cases {
		sub, err := s.Subscribe(ctx, eventstore.Start, tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m := receive(t, sub, 10*time.Second)
			if m.Kind == eventstore.CaughtUpMessage {
				break
			}
			if m.Kind == eventstore.EventMessage {
				name := m.Event.Stream
				if name == "types" {
					name += ":" + m.Event.Type
				}
				got = append(got, name)
			}
		}
		sub.Close()
		if len(got) != len(tc.want) {
			t.Fatalf("filter %+v delivered %q, want %q", tc.filter, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("filter %+v delivered %q, want %q", tc.filter, got, tc.want)
			}
		}
	}
}

// TestCheckpointsThroughFilteredEvents: with small batches, a filtered subscription
// reports checkpoints in catch-up and live mode, and resuming from any of them delivers
// exactly the matching events after it.
func TestCheckpointsThroughFilteredEvents(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{BatchSize: 10, CheckpointInterval: 15})
	ctx := testContext(t)
	filter := eventstore.Filter{StreamPrefixes: []string{"match"}}
	noise := func(n int) {
		for range n / 5 {
			mustAppend(t, s, "noise", eventstore.Any, newEvents("t.noise", 5)...)
		}
	}
	mustAppend(t, s, "match-1", eventstore.NoStream, newEvents("t.match", 1)...)
	noise(100)
	mustAppend(t, s, "match-2", eventstore.NoStream, newEvents("t.match", 1)...)
	noise(40)

	sub, err := s.Subscribe(ctx, eventstore.Start, filter)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var (
		checkpoints []eventstore.Position
		events      []*eventstore.RecordedEvent
		last        eventstore.Position
	)
	collect := func(until func() bool) {
		for !until() {
			m := receive(t, sub, 10*time.Second)
			if m.Position.Before(last) {
				t.Fatalf("%v at %s after %s", m.Kind, m.Position, last)
			}
			last = m.Position
			switch m.Kind {
			case eventstore.CheckpointMessage:
				checkpoints = append(checkpoints, m.Position)
			case eventstore.EventMessage:
				events = append(events, m.Event)
			case eventstore.CaughtUpMessage:
				return
			}
		}
	}
	collect(func() bool { return false })
	if len(events) != 2 || len(checkpoints) < 100/15 {
		t.Fatalf("catch-up: %d events and %d checkpoints, want 2 and at least %d", len(events), len(checkpoints), 100/15)
	}
	caughtUp := len(checkpoints)
	noise(60)
	collect(func() bool { return len(checkpoints) > caughtUp && last.Compare(head(t, s)) >= 0 })
	mustAppend(t, s, "match-3", eventstore.NoStream, newEvents("t.match", 1)...)
	collect(func() bool { return len(events) == 3 })

	for _, cp := range checkpoints {
		var want []string
		for _, e := range events {
			if e.Position.After(cp) {
				want = append(want, e.Stream)
			}
		}
		resumed, err := s.Subscribe(ctx, cp, filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < len(want) {
			got = append(got, receiveEvent(t, resumed, 10*time.Second).Stream)
		}
		resumed.Close()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("resumed from checkpoint %s: %q, want %q", cp, got, want)
			}
		}
	}
}

func head(t *testing.T, s *Store) eventstore.Position {
	t.Helper()
	p, err := s.head(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitForListener waits until the Store behind url has a listening connection other than
// the one with pid not, and returns its pid.
func waitForListener(t *testing.T, url string, not int) int {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN%' AND pid <> $2`,
			listenerName, not).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no listener connection")
	return 0
}

// TestNotificationsFromAnotherStore: with polling out of the picture, a subscription
// hears of another Store's appends through LISTEN/NOTIFY, also after its listening
// connection was killed and re-established.
func TestNotificationsFromAnotherStore(t *testing.T) {
	t.Parallel()
	reader, url := openStore(t, Config{PollInterval: time.Hour})
	writer, err := Open(testContext(t), url, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ctx := testContext(t)
	sub, err := reader.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	receive(t, sub, 10*time.Second)
	pid := waitForListener(t, url, 0)

	mustAppend(t, writer, "a", eventstore.NoStream, newEvents("t.created", 1)...)
	if e := receiveEvent(t, sub, 10*time.Second); e.Stream != "a" {
		t.Fatalf("got %s, want a", e.Stream)
	}

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	waitForListener(t, url, pid)
	mustAppend(t, writer, "b", eventstore.NoStream, newEvents("t.created", 1)...)
	if e := receiveEvent(t, sub, 10*time.Second); e.Stream != "b" {
		t.Fatalf("after the listener was killed: got %s, want b", e.Stream)
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)

	sub, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err while running: %v", err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sub.Close()
		}()
	}
	wg.Wait()
	if _, open := <-sub.Messages(); open {
		for range sub.Messages() {
		}
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}

	kept, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, kept, 10*time.Second)
	s.Close()
	for range kept.Messages() {
	}
	if err := kept.Err(); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("subscription ended by the store's Close: Err() = %v, want ErrUnavailable", err)
	}
	if _, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("subscribe to a closed store: got %v, want ErrUnavailable", err)
	}
	if _, err := s.Append(ctx, "s", eventstore.Any, newEvents("t.created", 1)...); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append to a closed store: got %v, want ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
