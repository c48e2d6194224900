package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ticketledger/ticketledger/eventstore"
)

// withIDs gives events fresh IDs, so that a retry can send the same ones.
func withIDs(events []eventstore.EventData) []eventstore.EventData {
	for i := range events {
		events[i].ID = uuid.New()
	}
	return events
}

// TestGroupCommit: appends made together are written by group statements, and each gets
// the answer it would get alone: written at its versions, a wrong expected version, a
// tombstoned stream, an idempotent retry.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{AppendGroups: 1, AppendLinger: 50 * time.Millisecond})
	ctx := testContext(t)
	mustAppend(t, s, "exists", eventstore.NoStream, newEvents("t.a", 2)...)
	mustAppend(t, s, "behind", eventstore.NoStream, newEvents("t.a", 1)...)
	mustAppend(t, s, "taken", eventstore.NoStream, newEvents("t.a", 4)...)
	mustAppend(t, s, "gone", eventstore.NoStream, newEvents("t.a", 1)...)
	if err := s.Tombstone(ctx, "gone", eventstore.Exact(1)); err != nil {
		t.Fatal(err)
	}
	retried := withIDs(newEvents("t.r", 2))
	first := mustAppend(t, s, "retry", eventstore.NoStream, retried...)

	type call struct {
		stream   string
		expected eventstore.ExpectedVersion
		events   []eventstore.EventData
		res      eventstore.AppendResult
		err      error
	}
	calls := []*call{
		{stream: "exists", expected: eventstore.Exact(2), events: newEvents("t.b", 2)},
		{stream: "behind", expected: eventstore.Exact(5), events: newEvents("t.b", 1)},
		{stream: "taken", expected: eventstore.NoStream, events: newEvents("t.b", 1)},
		{stream: "gone", expected: eventstore.Exact(1), events: newEvents("t.b", 1)},
		{stream: "retry", expected: eventstore.NoStream, events: retried},
	}
	for i := range 24 {
		calls = append(calls, &call{stream: fmt.Sprintf("fresh-%02d", i), expected: eventstore.NoStream, events: newEvents("t.c", 1+i%3)})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			<-start
			c.res, c.err = s.Append(ctx, c.stream, c.expected, c.events...)
		})
	}
	close(start)
	wg.Wait()

	if st, w := s.GroupStats(); st == 0 || w < 10 {
		t.Fatalf("%d group statements wrote %d appends; want the appends made together grouped", st, w)
	}
	for _, c := range calls {
		switch c.stream {
		case "exists":
			if c.err != nil || c.res.Version != 4 || c.res.Duplicate {
				t.Errorf("exists at 2: %+v, %v; want version 4", c.res, c.err)
			}
		case "behind":
			wantWrongVersion(t, c.err, 1)
		case "taken":
			wantWrongVersion(t, c.err, 4)
		case "gone":
			if !errors.Is(c.err, eventstore.ErrStreamDeleted) {
				t.Errorf("gone: %v, want ErrStreamDeleted", c.err)
			}
		case "retry":
			if c.err != nil || !c.res.Duplicate || c.res.Version != 2 || c.res.Position != first.Position {
				t.Errorf("retry: %+v, %v; want the first result %+v as a duplicate", c.res, c.err, first)
			}
		default:
			if c.err != nil || c.res.Version != uint64(len(c.events)) {
				t.Errorf("%s: %+v, %v; want version %d", c.stream, c.res, c.err, len(c.events))
			}
		}
	}

	// Every stream holds its events once, in version order, and the log keeps each
	// stream's versions in order.
	for _, c := range calls {
		got, err := s.ReadStream(ctx, c.stream, eventstore.ReadStreamOptions{})
		if c.stream == "gone" {
			if !errors.Is(err, eventstore.ErrStreamDeleted) {
				t.Errorf("read gone: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			if e.Version != uint64(i+1) {
				t.Fatalf("%s: event %d at version %d", c.stream, i, e.Version)
			}
		}
		if c.err == nil && !c.res.Duplicate {
			last := got[len(got)-1]
			if last.Version != c.res.Version || last.Position != c.res.Position {
				t.Errorf("%s: the result %+v is not its last event (version %d at %s)", c.stream, c.res, last.Version, last.Position)
			}
		}
	}
	all, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for _, e := range all {
		if e.Version != seen[e.Stream]+1 {
			t.Fatalf("the log holds %s version %d after version %d", e.Stream, e.Version, seen[e.Stream])
		}
		seen[e.Stream] = e.Version
	}
}

// TestGroupKeepsEveryField: the events of appends written by one group statement read
// back exactly as given: IDs, types, data of any bytes and sizes, metadata absent or
// present, versions after each append's expected version.
func TestGroupKeepsEveryField(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{AppendGroups: 1, AppendLinger: 50 * time.Millisecond})
	ctx := testContext(t)
	mustAppend(t, s, "before", eventstore.NoStream, newEvents("t.a", 3)...)
	type call struct {
		stream   string
		expected eventstore.ExpectedVersion
		events   []eventstore.EventData
		err      error
	}
	calls := []*call{{stream: "before", expected: eventstore.Exact(3)}}
	for i := range 20 {
		calls = append(calls, &call{stream: fmt.Sprintf("fields-%02d", i), expected: eventstore.NoStream})
	}
	for i, c := range calls {
		for j := range 1 + i%4 {
			e := eventstore.EventData{ID: uuid.New(), Type: fmt.Sprintf("t.kind-%d", j),
				Data: fmt.Appendf(nil, `{"i":%d,"j":%d,"s":%q}`, i, j, strings.Repeat("数据", i*j*40))}
			if (i+j)%3 != 0 {
				e.Metadata = fmt.Appendf(nil, `{"actor":"a-%d","bytes":"\u0000\u00ff"}`, i)
			}
			c.events = append(c.events, e)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			<-start
			_, c.err = s.Append(ctx, c.stream, c.expected, c.events...)
		})
	}
	close(start)
	wg.Wait()
	if st, w := s.GroupStats(); st == 0 || w < 10 {
		t.Fatalf("%d group statements wrote %d appends; want the appends made together grouped", st, w)
	}
	for _, c := range calls {
		if c.err != nil {
			t.Fatalf("%s: %v", c.stream, c.err)
		}
		got, err := s.ReadStream(ctx, c.stream, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first := 0
		if c.stream == "before" {
			first = 3
		}
		if len(got) != first+len(c.events) {
			t.Fatalf("%s: %d events, want %d", c.stream, len(got), first+len(c.events))
		}
		for i, want := range c.events {
			e := got[first+i]
			if e.Version != uint64(first+i+1) || e.ID != want.ID || e.Type != want.Type || !bytes.Equal(e.Data, want.Data) ||
				!bytes.Equal(e.Metadata, want.Metadata) || (e.Metadata == nil) != (want.Metadata == nil) {
				t.Errorf("%s: event %d read back as version %d %s %s %q %q; want version %d %s %s %q %q", c.stream, i,
					e.Version, e.ID, e.Type, e.Data, e.Metadata, first+i+1, want.ID, want.Type, want.Data, want.Metadata)
			}
		}
	}
}

// TestGroupRacesAcrossStores: two Stores on one database, as two processes, append to
// the same streams at once, each append at the version it last read; their group
// statements collide on streams and fall back to appends alone. Every stream ends with
// exactly the events whose appends succeeded, once each, in order.
func TestGroupRacesAcrossStores(t *testing.T) {
	t.Parallel()
	a, url := openStore(t, Config{AppendLinger: 2 * time.Millisecond})
	b, err := Open(testContext(t), url, Config{AppendLinger: 2 * time.Millisecond, VisibilityWait: testVisibilityWait})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testContext(t)
	const streams, writers, appends = 6, 8, 15
	var (
		mu  sync.Mutex
		won = map[string][]uuid.UUID{}
		wg  sync.WaitGroup
	)
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range appends {
				stream := fmt.Sprintf("race-%d", (w+i)%streams)
				for {
					var version uint64
					got, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
					switch {
					case errors.Is(err, eventstore.ErrStreamNotFound):
					case err != nil:
						t.Error(err)
						return
					default:
						version = got[len(got)-1].Version
					}
					e := withIDs(newEvents("t.race", 1))
					_, err = s.Append(ctx, stream, eventstore.Exact(version), e...)
					var wv *eventstore.WrongVersionError
					if errors.As(err, &wv) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					won[stream] = append(won[stream], e[0].ID)
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for stream, ids := range won {
		got, err := a.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Fatalf("%s holds %d events; %d appends succeeded", stream, len(got), len(ids))
		}
		stored := map[uuid.UUID]bool{}
		for i, e := range got {
			if e.Version != uint64(i+1) || stored[e.ID] {
				t.Fatalf("%s: event %s at version %d (index %d)", stream, e.ID, e.Version, i)
			}
			stored[e.ID] = true
		}
		for _, id := range ids {
			if !stored[id] {
				t.Fatalf("%s: the successful append of %s is not stored", stream, id)
			}
		}
		total += len(ids)
	}
	if total != writers*appends {
		t.Fatalf("%d appends succeeded, want %d", total, writers*appends)
	}
	t.Logf("group statements: %d and %d, writing %d and %d appends", a.groups.statements.Load(), b.groups.statements.Load(),
		a.groups.written.Load(), b.groups.written.Load())
}

// TestGroupWaitEndsWithItsContext: an append waiting in the queue returns when its
// context ends, is not written, and the Store goes on.
func TestGroupWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, Config{AppendGroups: 1, AppendLinger: 500 * time.Millisecond})
	ctx := testContext(t)
	// An append in flight, so that the next ones queue, and the writer waits for a fuller
	// group.
	s.groups.mu.Lock()
	s.groups.alone++
	s.groups.mu.Unlock()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "waits", eventstore.NoStream, newEvents("t.w", 1)...); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append waiting in the queue past its deadline: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { mustAppend(t, s, fmt.Sprintf("later-%d", i), eventstore.NoStream, newEvents("t.w", 1)...) })
	}
	wg.Wait()
	s.groups.mu.Lock()
	s.groups.alone--
	s.groups.mu.Unlock()
	if _, err := s.ReadStream(ctx, "waits", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("the append given up before it was taken was written: %v", err)
	}
	if w := s.groups.written.Load(); w != 3 {
		t.Fatalf("the group wrote %d appends, want the 3 later ones", w)
	}
}
