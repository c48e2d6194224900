package pgstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// importStreams returns n streams named prefix-0, prefix-1... of 1 to 5 events; the
// events of every third stream have no metadata and those of every fourth no ID.
func importStreams(prefix string, n int) []ImportStream {
	out := make([]ImportStream, n)
	for i := range out {
		evs := newEvents(fmt.Sprintf("t.kind%d", i%3), 1+i%5)
		for k := range evs {
			evs[k].Data = fmt.Appendf(nil, `{"stream":%d,"n":%d}`, i, k)
			if i%4 != 0 {
				evs[k].ID = uuid.New()
			}
			if i%3 == 0 {
				evs[k].Metadata = nil
			}
		}
		out[i] = ImportStream{Stream: fmt.Sprintf("%s-%d", prefix, i), Events: evs}
	}
	return out
}

// yieldAll iterates over streams, without error.
func yieldAll(streams []ImportStream) iter.Seq2[ImportStream, error] {
	return func(yield func(ImportStream, error) bool) {
		for _, st := range streams {
			if !yield(st, nil) {
				return
			}
		}
	}
}

// copyEvents returns a deep copy of events.
func copyEvents(events []eventstore.EventData) []eventstore.EventData {
	out := make([]eventstore.EventData, len(events))
	for i, e := range events {
		out[i] = eventstore.EventData{ID: e.ID, Type: e.Type, Data: append([]byte(nil), e.Data...)}
		if e.Metadata != nil {
			out[i].Metadata = append([]byte(nil), e.Metadata...)
		}
	}
	return out
}

func readStream(t *testing.T, s *Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(testContext(t), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

func wantNoStream(t *testing.T, s *Store, stream string) {
	t.Helper()
	if _, err := s.ReadStream(testContext(t), stream, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read %s: %v, want stream not found", stream, err)
	}
}

// countEvents returns the number of rows of the events table.
func countEvents(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(testContext(t), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportStoresWhatAppendStores: imported streams read back exactly as the same
// events appended with NoStream, every stream written by one chunk's transaction, the
// log holding the streams in import order and each in version order.
func TestImportStoresWhatAppendStores(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	streams := importStreams("imp", 40)
	appended := make([][]eventstore.EventData, len(streams))
	total := 0
	for i, st := range streams {
		appended[i] = copyEvents(st.Events)
		total += len(st.Events)
	}

	var reports []ImportProgress
	done, err := s.Import(ctx, yieldAll(streams), ImportOptions{ChunkEvents: 10, Progress: func(p ImportProgress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if done.Streams != int64(len(streams)) || done.Events != int64(total) || done.Chunks < 2 || len(reports) != done.Chunks {
		t.Fatalf("import reported %+v after %d progress reports, want %d streams, %d events, one report per chunk", done, len(reports), len(streams), total)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Events-reports[i-1].Events < 10 && i < len(reports)-1 {
			t.Fatalf("chunk %d holds %d events, fewer than ChunkEvents", i+1, reports[i].Events-reports[i-1].Events)
		}
		if !reports[i].Position.After(reports[i-1].Position) {
			t.Fatalf("chunk %d ends at %s, not after %s", i+1, reports[i].Position, reports[i-1].Position)
		}
	}

	for i, st := range streams {
		if st.Events[0].ID == uuid.Nil {
			t.Fatalf("%s: Import did not fill in the zero event IDs", st.Stream)
		}
		appended[i] = copyEvents(st.Events)
		mustAppend(t, s, "app-"+st.Stream, eventstore.NoStream, appended[i]...)
	}
	for _, st := range streams {
		imp, app := readStream(t, s, st.Stream), readStream(t, s, "app-"+st.Stream)
		if len(imp) != len(app) {
			t.Fatalf("%s: %d events imported, %d appended", st.Stream, len(imp), len(app))
		}
		for k := range imp {
			a, b := imp[k], app[k]
			if a.ID != b.ID || a.Version != b.Version || a.Type != b.Type || string(a.Data) != string(b.Data) ||
				string(a.Metadata) != string(b.Metadata) || (a.Metadata == nil) != (b.Metadata == nil) {
				t.Fatalf("%s event %d: imported %+v, appended %+v", st.Stream, k, a, b)
			}
		}
	}

	// The table, not ReadAll: the horizon of the cluster may hide the last events.
	rows, err := s.pool.Query(ctx, `SELECT stream, version, transaction_id::text, position FROM events ORDER BY transaction_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	log, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventstore.RecordedEvent, error) {
		var (
			e   eventstore.RecordedEvent
			xid string
			pos int64
		)
		if err := row.Scan(&e.Stream, &e.Version, &xid, &pos); err != nil {
			return e, err
		}
		e.Position, err = makePosition(xid, pos)
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2*total {
		t.Fatalf("the log holds %d events, want %d", len(log), 2*total)
	}
	next, txs := 0, map[uint64]bool{}
	for k := 0; k < total; {
		st := streams[next]
		major, _ := log[k].Position.Parts()
		txs[major] = true
		for v := range st.Events {
			e := log[k]
			if m, _ := e.Position.Parts(); e.Stream != st.Stream || e.Version != uint64(v+1) || m != major {
				t.Fatalf("log event %d is %s v%d in transaction %d, want %s v%d in transaction %d", k, e.Stream, e.Version, m, st.Stream, v+1, major)
			}
			k++
		}
		next++
	}
	if len(txs) != done.Chunks || log[total-1].Position != done.Position {
		t.Fatalf("imported events in %d transactions ending at %s, import reported %d chunks ending at %s", len(txs), log[total-1].Position, done.Chunks, done.Position)
	}
}

// TestImportRefusals: a chunk holding a stream that exists, was tombstoned, comes twice
// or is invalid is not written, and the import stops there with an error naming it; the
// chunks before it stay.
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	mustAppend(t, s, "exists", eventstore.NoStream, newEvents("t.before", 3)...)
	mustAppend(t, s, "deleted", eventstore.NoStream, newEvents("t.before", 1)...)
	if err := s.Tombstone(ctx, "deleted", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	invalid := []eventstore.EventData{{Type: "t.empty"}}

	cases := []struct {
		name  string
		bad   ImportStream
		check func(error) bool
	}{
		{"existing", ImportStream{Stream: "exists", Events: newEvents("t.new", 1)}, func(err error) bool {
			var wv *eventstore.WrongVersionError
			return errors.As(err, &wv) && wv.Stream == "exists" && wv.Actual == 3 && wv.Expected.IsNoStream()
		}},
		{"tombstoned", ImportStream{Stream: "deleted", Events: newEvents("t.new", 1)}, func(err error) bool {
			return errors.Is(err, eventstore.ErrStreamDeleted)
		}},
		{"earlier chunk", ImportStream{Stream: "earlier chunk-0", Events: newEvents("t.new", 1)}, func(err error) bool {
			var wv *eventstore.WrongVersionError
			return errors.As(err, &wv) && wv.Stream == "earlier chunk-0" && wv.Actual == 1
		}},
		{"twice in a chunk", ImportStream{Stream: "twice in a chunk-3", Events: newEvents("t.new", 1)}, func(err error) bool {
			return errors.Is(err, eventstore.ErrInvalid)
		}},
		{"invalid", ImportStream{Stream: "invalid", Events: invalid}, func(err error) bool {
			return errors.Is(err, eventstore.ErrInvalid)
		}},
		{"reserved name", ImportStream{Stream: "$invalid", Events: newEvents("t.new", 1)}, func(err error) bool {
			return errors.Is(err, eventstore.ErrInvalid)
		}},
	}
	for _, tc := range cases {
		// Chunks of 6 events: streams 0 to 2 (1, 2 and 3 events), then 3 (4 events), the
		// bad one (1 event) and 4 (5 events).
		streams := importStreams(tc.name, 5)
		streams = append(streams[:4:4], tc.bad, streams[4])
		before := countEvents(t, s)
		done, err := s.Import(ctx, yieldAll(streams), ImportOptions{ChunkEvents: 6})
		if err == nil || !tc.check(err) {
			t.Fatalf("%s: import returned %v", tc.name, err)
		}
		if done.Chunks != 1 || done.Streams != 3 || done.Events != 6 || countEvents(t, s)-before != 6 {
			t.Fatalf("%s: import reported %+v, the log grew by %d events; want the first chunk of 3 streams and 6 events", tc.name, done, countEvents(t, s)-before)
		}
		wantNoStream(t, s, streams[3].Stream)
		wantNoStream(t, s, streams[5].Stream)
		if got := readStream(t, s, streams[2].Stream); len(got) != 3 {
			t.Fatalf("%s: the first chunk's last stream holds %d events, want 3", tc.name, len(got))
		}
	}
	if got := readStream(t, s, "exists"); len(got) != 3 || got[2].Type != "t.before" {
		t.Fatalf("the existing stream changed: %+v", got)
	}
}

// TestImportSourceFailureAndCancellation: an error yielded by the source, or the end of
// the context in the middle of a chunk, stops the import with that chunk unwritten; the
// store stays usable.
func TestImportSourceFailureAndCancellation(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	errSource := errors.New("source failed")
	for _, cancelled := range []bool{false, true} {
		ctx, cancel := context.WithCancel(testContext(t))
		prefix := fmt.Sprintf("cancelled=%v", cancelled)
		streams := importStreams(prefix, 1000)
		var committed atomic.Bool
		source := func(yield func(ImportStream, error) bool) {
			for i, st := range streams {
				if committed.Load() && i%50 == 0 {
					if !cancelled {
						yield(ImportStream{}, errSource)
						return
					}
					cancel()
				}
				if ctx.Err() != nil || !yield(st, nil) {
					return
				}
			}
		}
		before := countEvents(t, s)
		done, err := s.Import(ctx, source, ImportOptions{ChunkEvents: 100, Progress: func(ImportProgress) { committed.Store(true) }})
		cancel()
		switch {
		case cancelled && !errors.Is(err, context.Canceled):
			t.Fatalf("cancelled import returned %v", err)
		case !cancelled && !errors.Is(err, errSource):
			t.Fatalf("failing source: import returned %v", err)
		case done.Chunks != 1 || countEvents(t, s)-before != done.Events:
			t.Fatalf("%s: import reported %+v, the log grew by %d events; want one chunk", prefix, done, countEvents(t, s)-before)
		}
		wantNoStream(t, s, streams[done.Streams].Stream)
	}
	mustAppend(t, s, "after", eventstore.NoStream, newEvents("t.after", 1)...)
}

// TestImportSubscribersSeeEachEventOnce: subscriptions following the log live, on the
// importing Store and on another one (woken only by NOTIFY), receive every imported and
// concurrently appended event exactly once, each stream in version order.
func TestImportSubscribersSeeEachEventOnce(t *testing.T) {
	t.Parallel()
	s, url := openStore(t, Config{PollInterval: time.Hour})
	other, err := Open(testContext(t), url, Config{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := testContext(t)
	var subs []eventstore.Subscription
	for _, st := range []*Store{s, other} {
		sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if m := receive(t, sub, 10*time.Second); m.Kind != eventstore.CaughtUpMessage {
			t.Fatalf("first message: %v, want CaughtUp", m.Kind)
		}
		subs = append(subs, sub)
	}
	waitForListener(t, url, 0)

	streams := importStreams("imp", 2000)
	want := 0
	for _, st := range streams {
		want += len(st.Events)
	}
	var wg sync.WaitGroup
	const appenders, appends = 4, 100
	for w := range appenders {
		wg.Go(func() {
			for i := range appends {
				if _, err := s.Append(ctx, fmt.Sprintf("app-%d-%d", w, i%10), eventstore.Any, newEvents("t.appended", 1)...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	if _, err := s.Import(ctx, yieldAll(streams), ImportOptions{ChunkEvents: 500}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want += appenders * appends

	for n, sub := range subs {
		last := map[string]uint64{}
		for got := 0; got < want; got++ {
			e := receiveEvent(t, sub, 20*time.Second)
			if e.Version != last[e.Stream]+1 {
				t.Fatalf("subscription %d: %s v%d after v%d", n, e.Stream, e.Version, last[e.Stream])
			}
			last[e.Stream] = e.Version
		}
		expectQuiet(t, sub, 200*time.Millisecond)
	}
}
