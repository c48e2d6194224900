package relay

import (
	"slices"
	"strings"
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
)

func recentEvent(stream string, version uint64, size int) *eventstore.RecordedEvent {
	return &eventstore.RecordedEvent{Stream: stream, Version: version, Type: "ticket.x", Data: []byte(strings.Repeat("d", size))}
}

func versions(events []eventstore.RecordedEvent) []uint64 {
	var v []uint64
	for _, e := range events {
		v = append(v, e.Version)
	}
	return v
}

// TestRecentStreams: a stream followed from its first event in order is taken whole with
// its outcome, once; a gap, a stream joined midway, an outcome that does not follow the
// last event kept, and the budget's eviction of the oldest stream all leave the stream to
// be read.
func TestRecentStreams(t *testing.T) {
	r := newRecentStreams(1 << 20)
	for v := uint64(1); v <= 3; v++ {
		r.add(recentEvent("ticket-a", v, 10))
	}
	got, ok := r.take(recentEvent("ticket-a", 4, 10))
	if !ok || !slices.Equal(versions(got), []uint64{1, 2, 3, 4}) {
		t.Fatalf("take a = %v, %v; want versions 1-4", versions(got), ok)
	}
	if _, ok := r.take(recentEvent("ticket-a", 4, 10)); ok || r.size != 0 {
		t.Fatalf("a taken twice (%v), or %d bytes still counted", ok, r.size)
	}

	// A gap drops the stream; so does an outcome that does not follow the last event.
	r.add(recentEvent("ticket-b", 1, 10))
	r.add(recentEvent("ticket-b", 3, 10))
	r.add(recentEvent("ticket-b", 4, 10))
	if _, ok := r.take(recentEvent("ticket-b", 5, 10)); ok {
		t.Fatal("b taken across a gap")
	}
	r.add(recentEvent("ticket-c", 1, 10))
	if _, ok := r.take(recentEvent("ticket-c", 3, 10)); ok {
		t.Fatal("c taken without its version 2")
	}
	// A stream joined midway is not kept.
	r.add(recentEvent("ticket-d", 2, 10))
	if _, ok := r.take(recentEvent("ticket-d", 3, 10)); ok {
		t.Fatal("d taken without its first event")
	}
	if len(r.streams) != 0 || r.size != 0 || r.order.Len() != 0 {
		t.Fatalf("left %d streams, %d bytes, %d in order", len(r.streams), r.size, r.order.Len())
	}

	// Over the budget the oldest stream goes first.
	per := eventSize(recentEvent("ticket-e", 1, 100))
	r = newRecentStreams(3 * per)
	r.add(recentEvent("ticket-e", 1, 100))
	r.add(recentEvent("ticket-f", 1, 100))
	r.add(recentEvent("ticket-e", 2, 100))
	r.add(recentEvent("ticket-g", 1, 100))
	if _, ok := r.take(recentEvent("ticket-e", 3, 100)); ok {
		t.Fatal("e, the oldest stream, kept over the budget")
	}
	if got, ok := r.take(recentEvent("ticket-f", 2, 100)); !ok || len(got) != 2 {
		t.Fatalf("f = %v, %v; want it kept", versions(got), ok)
	}
	if r.size != per {
		t.Fatalf("%d bytes counted, want %d (g)", r.size, per)
	}

	// Without a budget nothing is kept.
	r = newRecentStreams(-1)
	r.add(recentEvent("ticket-h", 1, 10))
	if _, ok := r.take(recentEvent("ticket-h", 2, 10)); ok || len(r.streams) != 0 {
		t.Fatal("kept a stream without a budget")
	}
}
