package storetest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

func testAppendExpectedVersions(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a := ns + "-a"

	r1 := mustAppend(t, s, a, eventstore.NoStream, newEvents("test.created", a, 1, 3)...)
	if r1.Version != 3 {
		t.Fatalf("first append of 3 events: version %d, want 3", r1.Version)
	}
	_, err := s.Append(ctx, a, eventstore.NoStream, newEvent("test.more", a, 4))
	checkActual(t, err, 3)

	r2 := mustAppend(t, s, a, eventstore.Exact(3), newEvents("test.more", a, 4, 2)...)
	if r2.Version != 5 || !r2.Position.After(r1.Position) {
		t.Fatalf("append at exact 3: %+v after %+v, want version 5 at a later position", r2, r1)
	}
	_, err = s.Append(ctx, a, eventstore.Exact(3), newEvent("test.more", a, 6))
	checkActual(t, err, 5)
	_, err = s.Append(ctx, a, eventstore.Exact(9), newEvent("test.more", a, 6))
	checkActual(t, err, 5)

	r3 := mustAppend(t, s, a, eventstore.StreamExists, newEvent("test.more", a, 6))
	if r3.Version != 6 {
		t.Fatalf("append with stream exists: version %d, want 6", r3.Version)
	}
	r4 := mustAppend(t, s, a, eventstore.Any, newEvent("test.more", a, 7))
	if r4.Version != 7 {
		t.Fatalf("append with any: version %d, want 7", r4.Version)
	}

	b := ns + "-b"
	_, err = s.Append(ctx, b, eventstore.StreamExists, newEvent("test.created", b, 1))
	checkActual(t, err, 0)
	_, err = s.Append(ctx, b, eventstore.Exact(1), newEvent("test.created", b, 1))
	checkActual(t, err, 0)
	if _, err := s.ReadStream(ctx, b, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("refused appends created stream %s: read gave %v, want stream not found", b, err)
	}
	if r := mustAppend(t, s, b, eventstore.Any, newEvent("test.created", b, 1)); r.Version != 1 {
		t.Fatalf("append with any to a new stream: version %d, want 1", r.Version)
	}
	if r := mustAppend(t, s, ns+"-c", eventstore.Exact(0), newEvent("test.created", ns+"-c", 1)); r.Version != 1 {
		t.Fatalf("append with exact 0 to a new stream: version %d, want 1", r.Version)
	}

	if got := versions(readStream(t, s, a)); !equalVersions(got, 1, 2, 3, 4, 5, 6, 7) {
		t.Fatalf("stream %s holds versions %v, want 1..7", a, got)
	}
}

func testAppendInvalid(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	good := newEvent("test.created", ns, 1)
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"empty stream name", "", []eventstore.EventData{good}},
		{"system stream", "$" + ns, []eventstore.EventData{good}},
		{"no events", ns + "-a", nil},
		{"empty type", ns + "-a", []eventstore.EventData{{ID: uuid.New(), Data: []byte(`{}`)}}},
		{"system type", ns + "-a", []eventstore.EventData{{ID: uuid.New(), Type: "$metadata", Data: []byte(`{}`)}}},
		{"empty data", ns + "-a", []eventstore.EventData{{ID: uuid.New(), Type: "test.created"}}},
	}
	for _, tc := range cases {
		_, err := s.Append(ctx, tc.stream, eventstore.Any, tc.events...)
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("%s: got %v, want an error wrapping ErrInvalid", tc.name, err)
		}
	}
	if _, err := s.ReadStream(ctx, ns+"-a", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("invalid appends wrote something: read gave %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: -1}); !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("read all with a negative count: got %v, want ErrInvalid", err)
	}
}

func testAppendTooLarge(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a := ns + "-a"
	big := func(n int) eventstore.EventData {
		return eventstore.EventData{ID: uuid.New(), Type: "test.big", Data: []byte(`"` + strings.Repeat("x", n) + `"`)}
	}
	for name, events := range map[string][]eventstore.EventData{
		"one event over the limit":  {big(eventstore.MaxAppendSize)},
		"two events over the limit": {big(eventstore.MaxAppendSize/2 + 10), big(eventstore.MaxAppendSize/2 + 10)},
	} {
		_, err := s.Append(ctx, a, eventstore.Any, events...)
		if !errors.Is(err, eventstore.ErrEventTooLarge) {
			t.Fatalf("%s: got %v, want ErrEventTooLarge", name, err)
		}
		if !strings.Contains(err.Error(), a) {
			t.Errorf("%s: error %q does not name the stream", name, err)
		}
	}
	if _, err := s.ReadStream(ctx, a, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a refused oversize append wrote something: read gave %v", err)
	}
	ok := big(64 << 10)
	if r := mustAppend(t, s, a, eventstore.NoStream, ok); r.Version != 1 {
		t.Fatalf("append after refusals: version %d, want 1", r.Version)
	}
	got := readStream(t, s, a)
	if len(got) != 1 || !bytes.Equal(got[0].Data, ok.Data) {
		t.Fatalf("64 KiB event did not round-trip")
	}
}

func testIdempotentReappend(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a := ns + "-a"
	first := newEvents("test.created", a, 1, 3)
	r1 := mustAppend(t, s, a, eventstore.NoStream, first...)
	again := mustAppend(t, s, a, eventstore.NoStream, first...)
	if r1.Duplicate || again.Version != r1.Version || again.Position != r1.Position {
		t.Fatalf("re-append at no stream: %+v, want the original %+v", again, r1)
	}
	second := newEvents("test.more", a, 4, 2)
	r2 := mustAppend(t, s, a, eventstore.Exact(3), second...)
	again = mustAppend(t, s, a, eventstore.Exact(3), second...)
	if r2.Duplicate || again.Version != r2.Version || again.Position != r2.Position {
		t.Fatalf("re-append at exact 3: %+v, want the original %+v", again, r2)
	}

	partial := []eventstore.EventData{second[0], newEvent("test.more", a, 99)}
	_, err := s.Append(ctx, a, eventstore.Exact(3), partial...)
	wrongVersion(t, err)

	if _, err := s.Append(ctx, a, eventstore.Any, second...); err != nil {
		t.Fatalf("re-append with any: %v", err)
	}
	got := readStream(t, s, a)
	if !equalVersions(versions(got), 1, 2, 3, 4, 5) {
		t.Fatalf("after re-appends the stream holds %v, want 1..5 once each", versions(got))
	}
	for i, e := range append(first, second...) {
		if got[i].ID != e.ID {
			t.Fatalf("event %d has id %s, want %s", i+1, got[i].ID, e.ID)
		}
	}
}

func testRacingWriters(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	const writers = 8
	for round := 0; round < 5; round++ {
		stream := ns + "-race"
		expected := eventstore.Exact(uint64(round))
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			errs     = make([]error, writers)
			versions = make([]uint64, writers)
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := s.Append(ctxFor(t), stream, expected, newEvent("test.raced", stream, w))
				errs[w], versions[w] = err, r.Version
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for w, err := range errs {
			if err == nil {
				wins++
				if versions[w] != uint64(round+1) {
					t.Fatalf("round %d: winner got version %d, want %d", round, versions[w], round+1)
				}
				continue
			}
			checkActual(t, err, uint64(round+1))
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of %d racing writers won, want exactly 1", round, wins, writers)
		}
	}
	if got := versions(readStream(t, s, ns+"-race")); !equalVersions(got, 1, 2, 3, 4, 5) {
		t.Fatalf("raced stream holds %v, want 1..5", got)
	}
}

func testReadStream(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a := ns + "-a"
	written := newEvents("test.created", a, 1, 10)
	before := time.Now()
	mustAppend(t, s, a, eventstore.NoStream, written[:4]...)
	mustAppend(t, s, a, eventstore.Exact(4), written[4:]...)

	all := readStream(t, s, a)
	if !equalVersions(versions(all), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) {
		t.Fatalf("read forwards: versions %v", versions(all))
	}
	for i, e := range all {
		w := written[i]
		if e.ID != w.ID || e.Stream != a || e.Type != w.Type || !bytes.Equal(e.Data, w.Data) || !bytes.Equal(e.Metadata, w.Metadata) {
			t.Fatalf("event %d did not round-trip: got %+v, wrote %+v", i+1, e, w)
		}
		if i > 0 && !e.Position.After(all[i-1].Position) {
			t.Fatalf("event %d at %s is not after event %d at %s", i+1, e.Position, i, all[i-1].Position)
		}
		if e.Created.Before(before.Add(-time.Hour)) || e.Created.After(time.Now().Add(time.Hour)) {
			t.Fatalf("event %d created at %s, written at %s", i+1, e.Created, before)
		}
	}

	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"forwards from 4, count 3", eventstore.ReadStreamOptions{From: 4, Count: 3}, []uint64{4, 5, 6}},
		{"forwards from 9, count 5", eventstore.ReadStreamOptions{From: 9, Count: 5}, []uint64{9, 10}},
		{"forwards past the end", eventstore.ReadStreamOptions{From: 11}, nil},
		{"backwards from the end, count 3", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Count: 3}, []uint64{10, 9, 8}},
		{"backwards from 5, count 2", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 5, Count: 2}, []uint64{5, 4}},
		{"backwards from 2", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 2}, []uint64{2, 1}},
	}
	for _, tc := range cases {
		got, err := s.ReadStream(ctx, a, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !equalVersions(versions(got), tc.want...) {
			t.Errorf("%s: versions %v, want %v", tc.name, versions(got), tc.want)
		}
	}
	if _, err := s.ReadStream(ctx, ns+"-missing", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read a missing stream: got %v, want ErrStreamNotFound", err)
	}
}

func testReadAll(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	start := head(t, s)
	var written []eventstore.EventData
	for i := 0; i < 3; i++ {
		for _, name := range []string{ns + "-a", ns + "-b", ns + "-c"} {
			e := newEvent("test.created", name, i)
			mustAppend(t, s, name, eventstore.Exact(uint64(i)), e)
			written = append(written, e)
		}
	}
	mine := func(evs []eventstore.RecordedEvent) []eventstore.RecordedEvent {
		var out []eventstore.RecordedEvent
		for _, e := range evs {
			if strings.HasPrefix(e.Stream, ns) {
				out = append(out, e)
			}
		}
		return out
	}
	// Other writers may interleave on a shared store: page through the log and keep this
	// test's own events.
	// A short page is the end of the log as the store shows it now: a store may hold
	// back events behind transactions still running for a while, so keep reading from
	// the last event returned, for a bounded time.
	readMine := func(dir eventstore.Direction, from eventstore.Position, want int) []eventstore.RecordedEvent {
		t.Helper()
		var out []eventstore.RecordedEvent
		deadline := time.Now().Add(20 * time.Second)
		for len(out) < want {
			page, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: dir, From: from, Count: 1000})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, mine(page)...)
			if len(page) > 0 {
				from = page[len(page)-1].Position
			}
			if len(page) < 1000 && time.Now().After(deadline) {
				break
			}
		}
		return out
	}
	got := readMine(eventstore.Forwards, start, len(written))
	if len(got) != len(written) {
		t.Fatalf("read all from %s: %d of my events, want %d: %s", start, len(got), len(written), describe(got))
	}
	for i, e := range got {
		if e.ID != written[i].ID {
			t.Fatalf("read all: event %d is %s, want %s", i, e.ID, written[i].ID)
		}
		if strings.HasPrefix(e.Stream, "$") || strings.HasPrefix(e.Type, "$") {
			t.Fatalf("read all returned a system event %s %s", e.Stream, e.Type)
		}
	}

	mid := readMine(eventstore.Forwards, got[2].Position, 2)
	if len(mid) < 2 || mid[0].ID != written[3].ID || mid[1].ID != written[4].ID {
		t.Fatalf("read all forwards from the 3rd event's position: got %s, want the 4th and 5th", describe(mid))
	}
	back := readMine(eventstore.Backwards, got[4].Position, 2)
	if len(back) < 2 || back[0].ID != written[3].ID || back[1].ID != written[2].ID {
		t.Fatalf("read all backwards from the 5th event's position: got %s, want the 4th then the 3rd", describe(back))
	}
	newest, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(newest) != 1 || newest[0].Position.Before(got[len(got)-1].Position) {
		t.Fatalf("read all backwards from the end: got %s, want an event at or after my last", describe(newest))
	}
}

func testTombstone(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a := ns + "-a"
	mustAppend(t, s, a, eventstore.NoStream, newEvents("test.created", a, 1, 2)...)
	err := s.Tombstone(ctx, a, eventstore.Exact(1))
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("tombstone at the wrong version: got %v, want wrong expected version", err)
	}
	if err := s.Tombstone(ctx, a, eventstore.Exact(2)); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	if _, err := s.ReadStream(ctx, a, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("read a tombstoned stream: got %v, want ErrStreamDeleted", err)
	}
	for _, ev := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.NoStream, eventstore.Exact(2)} {
		if _, err := s.Append(ctx, a, ev, newEvent("test.more", a, 3)); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Fatalf("append at %s to a tombstoned stream: got %v, want ErrStreamDeleted", ev, err)
		}
	}
	if err := s.Tombstone(ctx, a, eventstore.Any); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("tombstone twice: got %v, want ErrStreamDeleted", err)
	}
	b := ns + "-b"
	mustAppend(t, s, b, eventstore.NoStream, newEvent("test.created", b, 1))
	if got := readStream(t, s, b); len(got) != 1 {
		t.Fatalf("a neighbour of a tombstoned stream holds %d events, want 1", len(got))
	}
}

func testReadStreams(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	ctx := ctxFor(t)
	a, b, gone, missing := ns+"-a", ns+"-b", ns+"-gone", ns+"-missing"
	written := newEvents("test.created", a, 1, 5)
	mustAppend(t, s, a, eventstore.NoStream, written...)
	mustAppend(t, s, b, eventstore.NoStream, newEvents("test.created", b, 1, 2)...)
	mustAppend(t, s, gone, eventstore.NoStream, newEvent("test.created", gone, 1))
	if err := s.Tombstone(ctx, gone, eventstore.Any); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	reads := []eventstore.StreamRead{{Stream: a, Count: 3}, {Stream: missing}, {Stream: b}, {Stream: gone}, {Stream: a}, {Stream: b, Count: 9}}
	want := []struct {
		versions []uint64
		err      error
	}{{[]uint64{1, 2, 3}, nil}, {nil, eventstore.ErrStreamNotFound}, {[]uint64{1, 2}, nil}, {nil, eventstore.ErrStreamDeleted},
		{[]uint64{1, 2, 3, 4, 5}, nil}, {[]uint64{1, 2}, nil}}
	// The store's own ReadStreams, if it has one, and ReadStream stream by stream.
	for _, store := range []eventstore.Store{s, struct{ eventstore.Store }{s}} {
		_, native := store.(eventstore.StreamsReader)
		got, err := eventstore.ReadStreams(ctx, store, reads)
		if err != nil {
			t.Fatalf("ReadStreams (native %t): %v", native, err)
		}
		if len(got) != len(reads) {
			t.Fatalf("ReadStreams (native %t): %d answers to %d reads", native, len(got), len(reads))
		}
		for i, w := range want {
			g := got[i]
			if !errors.Is(g.Err, w.err) || (w.err == nil) != (g.Err == nil) || !equalVersions(versions(g.Events), w.versions...) {
				t.Fatalf("ReadStreams (native %t): read %d (%s, count %d): versions %v, error %v; want %v, %v",
					native, i, reads[i].Stream, reads[i].Count, versions(g.Events), g.Err, w.versions, w.err)
			}
			for j, e := range g.Events {
				if e.Stream != reads[i].Stream {
					t.Fatalf("ReadStreams (native %t): read %d holds an event of %s", native, i, e.Stream)
				}
				if reads[i].Stream == a && (e.ID != written[j].ID || !bytes.Equal(e.Data, written[j].Data) || !bytes.Equal(e.Metadata, written[j].Metadata)) {
					t.Fatalf("ReadStreams (native %t): event %d of %s did not round-trip", native, j+1, a)
				}
			}
		}
		if _, err := eventstore.ReadStreams(ctx, store, []eventstore.StreamRead{{Stream: a, Count: -1}}); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("ReadStreams (native %t) with a negative count: got %v, want ErrInvalid", native, err)
		}
		if got, err := eventstore.ReadStreams(ctx, store, nil); err != nil || len(got) != 0 {
			t.Fatalf("ReadStreams (native %t) of nothing: %v, %v", native, got, err)
		}
	}
}
