package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

func wantWrongVersion(t *testing.T, err error, actual uint64) {
	t.Helper()
	var wv *eventstore.WrongVersionError
	if !errors.As(err, &wv) || !wv.ActualKnown || wv.Actual != actual {
		t.Fatalf("got %v, want a wrong expected version error with actual %d", err, actual)
	}
}

func TestAppendIdempotentRetries(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)

	first := newEvents("t.first", 2)
	r1 := mustAppend(t, s, "s", eventstore.NoStream, first...)
	second := newEvents("t.second", 2)
	r2 := mustAppend(t, s, "s", eventstore.Exact(2), second...)

	cases := []struct {
		name     string
		expected eventstore.ExpectedVersion
		events   []eventstore.EventData
		want     eventstore.AppendResult
	}{
		{"no stream, after later appends", eventstore.NoStream, first, r1},
		{"exact", eventstore.Exact(2), second, r2},
		{"any", eventstore.Any, second, r2},
		{"any, an earlier append", eventstore.Any, first, r1},
		{"stream exists", eventstore.StreamExists, second, r2},
		{"prefix of an append", eventstore.NoStream, first[:1], eventstore.AppendResult{Version: 1}},
	}
	for _, tc := range cases {
		got, err := s.Append(ctx, "s", tc.expected, tc.events...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !got.Duplicate {
			t.Fatalf("%s: %+v does not report the retry", tc.name, got)
		}
		if tc.want.Position.IsZero() {
			if got.Version != tc.want.Version {
				t.Fatalf("%s: version %d, want %d", tc.name, got.Version, tc.want.Version)
			}
			continue
		}
		if want := (eventstore.AppendResult{Version: tc.want.Version, Position: tc.want.Position, Duplicate: true}); got != want {
			t.Fatalf("%s: got %+v, want the original %+v", tc.name, got, want)
		}
	}

	partial := []eventstore.EventData{second[0], newEvents("t.other", 1)[0]}
	for _, ev := range []eventstore.ExpectedVersion{eventstore.Exact(2), eventstore.Any, eventstore.StreamExists} {
		_, err := s.Append(ctx, "s", ev, partial...)
		wantWrongVersion(t, err, 4)
	}
	tail := []eventstore.EventData{newEvents("t.other", 1)[0], second[1]}
	_, err := s.Append(ctx, "s", eventstore.Any, tail...)
	wantWrongVersion(t, err, 4)
	beyond := append(append([]eventstore.EventData{}, second...), newEvents("t.more", 1)...)
	_, err = s.Append(ctx, "s", eventstore.Exact(2), beyond...)
	wantWrongVersion(t, err, 4)

	evs, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 4 {
		t.Fatalf("after retries the stream holds %d events (%v), want 4", len(evs), err)
	}
}

func TestAppendConcurrentIdenticalRetries(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	events := newEvents("t.raced", 3)
	for i := range events {
		events[i].ID = uuid.New()
	}
	const writers = 8
	results := make([]eventstore.AppendResult, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w], errs[w] = s.Append(testContext(t), "s", eventstore.NoStream, append([]eventstore.EventData{}, events...)...)
		}()
	}
	wg.Wait()
	wrote := 0
	for w := range writers {
		if errs[w] != nil {
			t.Fatalf("writer %d: %v", w, errs[w])
		}
		if !results[w].Duplicate {
			wrote++
		}
		if results[w].Version != results[0].Version || results[w].Position != results[0].Position {
			t.Fatalf("writer %d got %+v, writer 0 got %+v", w, results[w], results[0])
		}
	}
	if wrote != 1 {
		t.Fatalf("%d writers report writing, want 1 (the others' retries are duplicates)", wrote)
	}
}

func TestTombstoneCases(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)

	if err := s.Tombstone(ctx, "never", eventstore.Exact(3)); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("tombstone a missing stream at exact 3: got %v, want ErrStreamNotFound", err)
	}
	if err := s.Tombstone(ctx, "never", eventstore.StreamExists); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("tombstone a missing stream with stream exists: got %v, want ErrStreamNotFound", err)
	}
	if err := s.Tombstone(ctx, "never", eventstore.NoStream); err != nil {
		t.Fatalf("tombstone a missing stream with no stream: %v", err)
	}
	if _, err := s.Append(ctx, "never", eventstore.NoStream, newEvents("t.created", 1)...); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("append to a stream tombstoned before it existed: got %v, want ErrStreamDeleted", err)
	}
	if _, err := s.ReadStream(ctx, "never", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("read a stream tombstoned before it existed: got %v, want ErrStreamDeleted", err)
	}

	first := mustAppend(t, s, "a", eventstore.NoStream, newEvents("t.created", 2)...)
	if err := s.Tombstone(ctx, "a", eventstore.NoStream); err == nil {
		t.Fatal("tombstone an existing stream with no stream succeeded")
	} else {
		wantWrongVersion(t, err, 2)
	}
	if err := s.Tombstone(ctx, "a", eventstore.StreamExists); err != nil {
		t.Fatalf("tombstone with stream exists: %v", err)
	}
	for _, ev := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.StreamExists, eventstore.Exact(2), eventstore.Exact(3)} {
		if _, err := s.Append(ctx, "a", ev, newEvents("t.more", 1)...); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Fatalf("append at %s to a tombstoned stream: got %v, want ErrStreamDeleted", ev, err)
		}
		if err := s.Tombstone(ctx, "a", ev); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Fatalf("tombstone at %s a tombstoned stream: got %v, want ErrStreamDeleted", ev, err)
		}
	}

	later := mustAppend(t, s, "b", eventstore.NoStream, newEvents("t.created", 1)...)
	evs, err := s.ReadAll(ctx, eventstore.ReadAllOptions{From: first.Position, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Position != later.Position {
		t.Fatalf("read all after the tombstoned stream's last event: got %d events, want the event of b, stepping over the tombstone", len(evs))
	}
	all, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("read all: %d events, want the 3 appended (the tombstoned stream's events stay)", len(all))
	}
	for _, e := range all {
		if e.Type == tombstoneType {
			t.Fatalf("read all delivered a tombstone event of %s", e.Stream)
		}
	}
	back, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 2})
	if err != nil || len(back) != 2 || back[0].Stream != "b" || back[1].Stream != "a" {
		t.Fatalf("read all backwards: %v, %v; want b then a's last event", back, err)
	}
}

// TestTombstoneRacesAppend checks that a tombstone and an append at the same expected
// version never both succeed.
func TestTombstoneRacesAppend(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	for round := range 20 {
		stream := fmt.Sprintf("race-%d", round)
		mustAppend(t, s, stream, eventstore.NoStream, newEvents("t.created", 1)...)
		var (
			wg               sync.WaitGroup
			appendErr, tsErr error
			start            = make(chan struct{})
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, appendErr = s.Append(testContext(t), stream, eventstore.Exact(1), newEvents("t.more", 1)...)
		}()
		go func() {
			defer wg.Done()
			<-start
			tsErr = s.Tombstone(testContext(t), stream, eventstore.Exact(1))
		}()
		close(start)
		wg.Wait()
		if (appendErr == nil) == (tsErr == nil) {
			t.Fatalf("round %d: append error %v, tombstone error %v: want exactly one to succeed", round, appendErr, tsErr)
		}
	}
}

// TestHotStreamKeepsVersionOrderInLog appends concurrently with Any to one stream and
// checks that the global log holds its versions in order.
func TestHotStreamKeepsVersionOrderInLog(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	const writers, appends = 12, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				if _, err := s.Append(testContext(t), "hot", eventstore.Any, newEvents("t.hot", 1+i%3)...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var (
		ctx  = testContext(t)
		from eventstore.Position
		want uint64 = 1
	)
	for {
		evs, err := s.ReadAll(ctx, eventstore.ReadAllOptions{From: from, Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Version != want {
				t.Fatalf("log holds version %d of the hot stream at %s, want %d", e.Version, e.Position, want)
			}
			if !e.Position.After(from) {
				t.Fatalf("positions not increasing: %s after %s", e.Position, from)
			}
			want++
			from = e.Position
		}
	}
	if want == 1 {
		t.Fatal("the log is empty")
	}
}

// TestAppendWaitsForARacingTransaction checks that an append blocked behind another
// transaction's insert of the same version ends with the deadline of its context, and
// fails with a wrong expected version once that transaction commits.
func TestAppendWaitsForARacingTransaction(t *testing.T) {
	t.Parallel()
	s, url := openStore(t, Config{})
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	other := newEvents("t.other", 1)[0]
	if _, err := tx.Exec(ctx, appendStatements[1][expectNoStream], "s", uuid.New(), other.Type, other.Data, other.Metadata); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = s.Append(short, "s", eventstore.NoStream, newEvents("t.mine", 1)...)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append blocked by an open transaction: got %v, want context.DeadlineExceeded", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "s", eventstore.NoStream, newEvents("t.mine", 1)...)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantWrongVersion(t, <-done, 1)
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Tombstone(ctx, "s", eventstore.Any); !errors.Is(err, context.Canceled) {
		t.Errorf("tombstone: got %v, want context.Canceled", err)
	}
	if _, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("subscribe: got %v, want context.Canceled", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	checks := map[string]error{
		"read stream with a negative count": func() error {
			_, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{Count: -1})
			return err
		}(),
		"read a system stream": func() error {
			_, err := s.ReadStream(ctx, "$all", eventstore.ReadStreamOptions{})
			return err
		}(),
		"read all with count 0": func() error {
			_, err := s.ReadAll(ctx, eventstore.ReadAllOptions{})
			return err
		}(),
		"tombstone an empty stream name": s.Tombstone(ctx, "", eventstore.Any),
	}
	for name, err := range checks {
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestAppendRoundTripsBytes(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	written := []eventstore.EventData{
		{Type: "t.spaced", Data: []byte("{ \"b\" : 1,\n  \"a\" : [ ] }"), Metadata: nil},
		{Type: "t.unicode", Data: []byte(`{"text":"审批 \u00e9"}`), Metadata: []byte(`{}`)},
	}
	mustAppend(t, s, "s", eventstore.NoStream, written...)
	got, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if string(e.Data) != string(written[i].Data) || string(e.Metadata) != string(written[i].Metadata) || e.ID != written[i].ID {
			t.Fatalf("event %d: got %q %q %s, wrote %q %q %s", i, e.Data, e.Metadata, e.ID, written[i].Data, written[i].Metadata, written[i].ID)
		}
		if e.Created.Location() != time.UTC {
			t.Fatalf("event %d: created %s is not in UTC", i, e.Created)
		}
	}
	if got[0].Metadata != nil {
		t.Fatalf("absent metadata read back as %q, want nil", got[0].Metadata)
	}
}
