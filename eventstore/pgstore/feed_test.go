package pgstore

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// collectEvents reads sub until it has delivered want events, failing after timeout.
func collectEvents(t *testing.T, sub eventstore.Subscription, want int, timeout time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	deadline := time.After(timeout)
	for len(got) < want {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(got), want, sub.Err())
			}
			if m.Kind == eventstore.EventMessage {
				got = append(got, *m.Event)
			}
		case <-deadline:
			t.Fatalf("%d of %d events after %s", len(got), want, timeout)
		}
	}
	return got
}

// checkOrder fails unless got are the events of the streams that pass keep, each stream's
// versions 1..n in order, n events per stream, and each event once.
func checkOrder(t *testing.T, got []eventstore.RecordedEvent, streams []string, n int, keep func(string) bool) {
	t.Helper()
	next := make(map[string]uint64)
	var last eventstore.Position
	for _, e := range got {
		if !keep(e.Stream) {
			t.Fatalf("event of %s passed a filter that excludes it", e.Stream)
		}
		if !e.Position.After(last) {
			t.Fatalf("position %s after %s", e.Position, last)
		}
		last = e.Position
		next[e.Stream]++
		if e.Version != next[e.Stream] {
			t.Fatalf("%s: version %d, want %d", e.Stream, e.Version, next[e.Stream])
		}
	}
	for _, st := range streams {
		if keep(st) && next[st] != uint64(n) {
			t.Fatalf("%s: %d events, want %d", st, next[st], n)
		}
	}
}

// TestSubscriptionsShareTheFeed has eight live subscriptions, with and without filters,
// follow concurrent appends: each receives its events once and in order, and once caught
// up they read the shared window rather than the database each.
func TestSubscriptionsShareTheFeed(t *testing.T) {
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	mustAppend(t, s, "before-1", eventstore.NoStream, newEvents("test.before", 3)...)
	const subs = 8
	all := make([]eventstore.Subscription, subs)
	for i := range all {
		f := eventstore.Filter{}
		if i%2 == 1 {
			f.StreamPrefixes = []string{"odd-"}
		}
		sub, err := s.Subscribe(ctx, eventstore.Start, f)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		all[i] = sub
		for m := receive(t, sub, 10*time.Second); m.Kind != eventstore.CaughtUpMessage; m = receive(t, sub, 10*time.Second) {
		}
	}
	own := s.ownReads.Load()
	var streams []string
	for w := 0; w < 4; w++ {
		streams = append(streams, fmt.Sprintf("odd-%d", w), fmt.Sprintf("even-%d", w))
	}
	const perStream = 40
	var wg sync.WaitGroup
	for _, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 0; v < perStream; v++ {
				if _, err := s.Append(ctx, st, eventstore.Exact(uint64(v)), newEvents("test.live", 1)...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, sub := range all {
		keep := func(string) bool { return true }
		want := len(streams) * perStream
		if i%2 == 1 {
			keep = func(st string) bool { return strings.HasPrefix(st, "odd-") }
			want /= 2
		}
		checkOrder(t, collectEvents(t, sub, want, 20*time.Second), streams, perStream, keep)
	}
	appends := int64(len(streams) * perStream)
	if reads := s.ownReads.Load() - own; reads >= appends {
		t.Fatalf("%d subscriptions read the database %d times for %d appends; the feed serves them %d times", subs, reads, appends, s.feedReads.Load())
	}
	t.Logf("%d database reads and %d window reads by %d subscriptions for %d appends", s.ownReads.Load()-own, s.feedReads.Load(), subs, appends)
}

// TestSlowSubscriptionFallsOutOfTheWindow holds a subscription back while far more events
// than the window keeps are appended: it reads the database until it reaches the window
// again, and misses nothing.
func TestSlowSubscriptionFallsOutOfTheWindow(t *testing.T) {
	s, _ := openStore(t, Config{})
	ctx := testContext(t)
	fast, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const streams, perStream = 10, 1000
	names := make([]string, streams)
	total := streams * perStream
	done := make(chan []eventstore.RecordedEvent, 1)
	go func() {
		var got []eventstore.RecordedEvent
		for m := range fast.Messages() {
			if m.Kind == eventstore.EventMessage {
				if got = append(got, *m.Event); len(got) == total {
					break
				}
			}
		}
		done <- got
	}()
	for i := range names {
		names[i] = fmt.Sprintf("bulk-%d", i)
		for v := 0; v < perStream; v += 250 {
			mustAppend(t, s, names[i], eventstore.Exact(uint64(v)), newEvents("test.bulk", 250)...)
		}
	}
	var got []eventstore.RecordedEvent
	select {
	case got = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the fast subscription did not receive every event")
	}
	if len(got) != total {
		t.Fatalf("fast subscription: %d of %d events: %v", len(got), total, fast.Err())
	}
	byStream := func(got []eventstore.RecordedEvent) {
		t.Helper()
		next := make(map[string]uint64)
		for _, e := range got {
			next[e.Stream]++
			if e.Version != next[e.Stream] {
				t.Fatalf("%s: version %d, want %d", e.Stream, e.Version, next[e.Stream])
			}
		}
	}
	byStream(got)
	own := s.ownReads.Load()
	slowGot := collectEvents(t, slow, total, 30*time.Second)
	byStream(slowGot)
	for i := range slowGot {
		if slowGot[i].ID != got[i].ID {
			t.Fatalf("event %d: slow subscription got %s, fast %s", i, slowGot[i].ID, got[i].ID)
		}
	}
	if s.ownReads.Load() == own {
		t.Fatal("the slow subscription never read the database, though it fell out of the window")
	}
}

// TestFeedStopsWithoutSubscriptions closes every subscription: the feed's reader stops,
// and a new subscription starts it again.
func TestFeedStopsWithoutSubscriptions(t *testing.T) {
	s, _ := openStore(t, Config{PollInterval: 20 * time.Millisecond})
	ctx := testContext(t)
	for round := 0; round < 2; round++ {
		sub, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		stream := fmt.Sprint("round-", round)
		mustAppend(t, s, stream, eventstore.NoStream, newEvents("test.round", 2)...)
		got := collectEvents(t, sub, 2*(round+1), 10*time.Second)
		if got[len(got)-1].Stream != stream {
			t.Fatalf("round %d: last event of %s", round, got[len(got)-1].Stream)
		}
		sub.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.feed.mu.Lock()
			running := s.feed.running
			s.feed.mu.Unlock()
			if !running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the feed still runs without subscriptions", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
