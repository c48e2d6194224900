package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

func testSubscribeCatchUpThenLive(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	start := head(t, s)
	a, other := ns+"-a", namespace(t)+"-other"
	var want []eventstore.EventData
	for i := 0; i < 5; i++ {
		e := newEvent("test.created", a, i+1)
		mustAppend(t, s, a, eventstore.Exact(uint64(i)), e)
		mustAppend(t, s, other, eventstore.Exact(uint64(i)), newEvent("test.created", other, i+1))
		want = append(want, e)
	}
	r := subscribe(t, s, start, eventstore.Filter{StreamPrefixes: []string{ns}})
	got := r.untilCaughtUp()
	if len(got) != 5 {
		t.Fatalf("catch-up delivered %s, want the 5 events of %s", describe(got), a)
	}

	live := newEvents("test.more", a, 6, 3)
	mustAppend(t, s, a, eventstore.Exact(5), live...)
	mustAppend(t, s, other, eventstore.Any, newEvent("test.more", other, 6))
	b := ns + "-b"
	lb := newEvent("test.created", b, 1)
	mustAppend(t, s, b, eventstore.NoStream, lb)
	want = append(append(want, live...), lb)
	got = append(got, r.events(4)...)
	for i, e := range got {
		if e.ID != want[i].ID {
			t.Fatalf("event %d: got %s@%d, want the %d-th event written", i, e.Stream, e.Version, i+1)
		}
	}
	r.noEventWithin(300 * time.Millisecond)
}

func testSubscribeTypeFilter(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	start := head(t, s)
	a := ns + "-a"
	typ := ns + ".wanted"
	mustAppend(t, s, a, eventstore.NoStream,
		newEvent(typ+".one", a, 1), newEvent("test.unwanted", a, 2), newEvent(typ+".two", a, 3))
	r := subscribe(t, s, start, eventstore.Filter{TypePrefixes: []string{typ}})
	got := r.untilCaughtUp()
	if len(got) != 2 || got[0].Version != 1 || got[1].Version != 3 {
		t.Fatalf("type-filtered catch-up delivered %s, want versions 1 and 3 of %s", describe(got), a)
	}
	mustAppend(t, s, a, eventstore.Exact(3), newEvent("test.unwanted", a, 4), newEvent(typ+".three", a, 5))
	if got := r.events(1); got[0].Version != 5 {
		t.Fatalf("type-filtered live delivered %s, want version 5", describe(got))
	}

	both := subscribe(t, s, start, eventstore.Filter{StreamPrefixes: []string{ns + "-none"}, TypePrefixes: []string{typ}})
	if got := both.untilCaughtUp(); len(got) != 0 {
		t.Fatalf("stream and type filters together delivered %s, want nothing", describe(got))
	}
}

func testSubscribeFromMiddle(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	a := ns + "-a"
	var results []eventstore.AppendResult
	for i := 0; i < 10; i++ {
		results = append(results, mustAppend(t, s, a, eventstore.Exact(uint64(i)), newEvent("test.created", a, i+1)))
	}
	r := subscribe(t, s, results[3].Position, eventstore.Filter{StreamPrefixes: []string{ns}})
	got := r.untilCaughtUp()
	if !equalVersions(versions(got), 5, 6, 7, 8, 9, 10) {
		t.Fatalf("subscribing from the 4th event's position delivered versions %v, want 5..10", versions(got))
	}
}

// testSubscribeCheckpointsAndResume covers long stretches of filtered-out events, in
// catch-up and live, and a subscriber that stops and resumes from what it stored.
func testSubscribeCheckpointsAndResume(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	start := head(t, s)
	match, noise := ns+"-match", namespace(t)+"-noise"
	filter := eventstore.Filter{StreamPrefixes: []string{ns}}

	noiseVersion := uint64(0)
	writeNoise := func(n int) eventstore.AppendResult {
		var last eventstore.AppendResult
		for n > 0 {
			k := min(n, 25)
			last = mustAppend(t, s, noise, eventstore.Exact(noiseVersion), newEvents("test.noise", noise, int(noiseVersion)+1, k)...)
			noiseVersion += uint64(k)
			n -= k
		}
		return last
	}
	matchVersion := uint64(0)
	writeMatch := func(n int) []eventstore.EventData {
		evs := newEvents("test.match", match, int(matchVersion)+1, n)
		mustAppend(t, s, match, eventstore.Exact(matchVersion), evs...)
		matchVersion += uint64(n)
		return evs
	}

	writeMatch(5)
	endOfNoise := writeNoise(300)

	r := subscribe(t, s, start, filter)
	if got := r.untilCaughtUp(); len(got) != 5 {
		t.Fatalf("catch-up delivered %s, want 5 events", describe(got))
	}
	if r.last.Before(endOfNoise.Position) {
		t.Fatalf("at the end of catch-up the subscription reported %s, before the last filtered-out event at %s", r.last, endOfNoise.Position)
	}

	var stored eventstore.Position
	for i := 0; i < 8; i++ {
		writeNoise(25)
	}
	midNoise := writeNoise(100)
	writeNoise(100)
	deadline := time.Now().Add(waitLimit)
	for r.last.Before(midNoise.Position) {
		if time.Now().After(deadline) {
			t.Fatalf("live: no checkpoint through 400 filtered-out events: last reported %s, want at least %s", r.last, midNoise.Position)
		}
		m := r.next()
		if m.Kind == eventstore.EventMessage {
			t.Fatalf("live: unexpected event %s@%d", m.Event.Stream, m.Event.Version)
		}
		stored = m.Position
	}
	if stored.IsZero() {
		t.Fatal("live: no checkpoint to store")
	}

	mid := writeMatch(2)
	if got := r.events(2); got[0].ID != mid[0].ID || got[1].ID != mid[1].ID {
		t.Fatalf("live after noise delivered %s", describe(got))
	}
	afterEvents := r.last
	if err := r.sub.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := r.sub.Err(); err != nil {
		t.Fatalf("after Close, Err() = %v, want nil", err)
	}
	if _, open := <-r.sub.Messages(); open {
		t.Fatal("Messages is still open after Close")
	}

	later := writeMatch(3)
	writeNoise(50)
	later = append(later, writeMatch(1)...)

	resumed := subscribe(t, s, afterEvents, filter)
	got := resumed.untilCaughtUp()
	if len(got) != len(later) {
		t.Fatalf("resumed after the last event delivered %s, want the %d later events", describe(got), len(later))
	}
	for i := range got {
		if got[i].ID != later[i].ID {
			t.Fatalf("resumed after the last event: event %d is %s@%d", i, got[i].Stream, got[i].Version)
		}
	}

	fromCheckpoint := subscribe(t, s, stored, filter)
	got = fromCheckpoint.untilCaughtUp()
	want := append(mid, later...)
	if len(got) != len(want) {
		t.Fatalf("resumed from a stored checkpoint delivered %s, want %d events", describe(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			t.Fatalf("resumed from a stored checkpoint: event %d is %s@%d", i, got[i].Stream, got[i].Version)
		}
	}
}

func testCancellation(t *testing.T, s eventstore.Store) {
	ns := namespace(t)
	a := ns + "-a"
	mustAppend(t, s, a, eventstore.NoStream, newEvent("test.created", a, 1))

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(done, a, eventstore.Any, newEvent("test.more", a, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("append with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.ReadStream(done, a, eventstore.ReadStreamOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("read stream with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.ReadAll(done, eventstore.ReadAllOptions{Count: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("read all with a cancelled context: got %v, want context.Canceled", err)
	}
	if got := readStream(t, s, a); len(got) != 1 {
		t.Fatalf("a cancelled append wrote: the stream holds %d events", len(got))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := s.Subscribe(ctx, head(t, s), eventstore.Filter{StreamPrefixes: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.Messages():
			if ok {
				continue
			}
			if err := sub.Err(); !errors.Is(err, context.Canceled) {
				t.Fatalf("subscription ended by its context: Err() = %v, want context.Canceled", err)
			}
			if err := sub.Close(); err != nil {
				t.Fatalf("close after the end: %v", err)
			}
			return
		case <-timer.C:
			t.Fatalf("subscription still open %s after its context was cancelled", waitLimit)
		}
	}
}
