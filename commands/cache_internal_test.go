package commands

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

func TestStateCacheEntries(t *testing.T) {
	c := NewStateCache[string](2)
	cmd := uuid.New()
	recorded := func(stream string, n int) []eventstore.RecordedEvent {
		evs := make([]eventstore.RecordedEvent, n)
		for i := range evs {
			evs[i] = eventstore.RecordedEvent{Stream: stream, ID: uuid.New(), Version: uint64(i + 1), Position: eventstore.MakePosition(uint64(i+1), 0)}
		}
		return evs
	}
	c.loaded("a", Loaded[string]{State: "a2", Version: 2}, recorded("a", 2))
	c.loaded("empty", Loaded[string]{}, nil)
	if c.Len() != 1 {
		t.Fatalf("an empty stream was cached: %d entries", c.Len())
	}
	c.loaded("b", Loaded[string]{State: "b1", Version: 1}, recorded("b", 1))
	if _, _, hit := c.get("a", cmd); !hit {
		t.Fatal("a is not cached")
	}
	// a was used last: c evicts b.
	c.loaded("c", Loaded[string]{State: "c1", Version: 1}, recorded("c", 1))
	if _, _, hit := c.get("b", cmd); hit || c.Len() != 2 {
		t.Fatalf("b is still cached, or the cache holds %d entries", c.Len())
	}

	// An append onto the cached version moves the entry on and records the command.
	prev, _, _ := c.get("a", cmd)
	next := Loaded[string]{State: "a4", Version: 4, Position: eventstore.MakePosition(9, 0)}
	c.appended("a", prev, next, []uuid.UUID{envelope.EventID(cmd, 0), envelope.EventID(cmd, 1)})
	l, done, hit := c.get("a", cmd)
	if !hit || l.State != "a4" || !done.found || done.count != 2 || done.version != 4 || done.position != next.Position {
		t.Fatalf("after the append: %+v %+v %v", l, done, hit)
	}
	// A later load of an older version does not replace it.
	c.loaded("a", Loaded[string]{State: "a2", Version: 2}, recorded("a", 2))
	if l, _, _ := c.get("a", cmd); l.State != "a4" {
		t.Fatalf("an older load replaced the entry: %+v", l)
	}
	// An append onto a version the cache no longer holds drops the entry.
	c.appended("a", prev, Loaded[string]{State: "a5", Version: 5}, []uuid.UUID{uuid.New()})
	if _, _, hit := c.get("a", cmd); hit {
		t.Fatal("an append onto a stale version kept the entry")
	}
	c.forget("c")
	if c.Len() != 0 {
		t.Fatalf("%d entries left", c.Len())
	}

	var off *StateCache[string]
	off.loaded("a", Loaded[string]{State: "x", Version: 1}, nil)
	if _, _, hit := off.get("a", cmd); hit || off.Len() != 0 || NewStateCache[string](0).Len() != 0 {
		t.Fatal("a nil cache keeps something")
	}
}
