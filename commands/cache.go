package commands

import (
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// DefaultStateCacheSize is a size for WithStateCache: about the tickets in flight at once
// in a busy installation, a few megabytes of memory.
const DefaultStateCacheSize = 4096

// StateCache keeps the states of the streams most recently loaded or written, so that a
// command on a stream this process just handled does not read and fold the stream again.
// A cached state may be stale when another process wrote the stream since: the command is
// then decided on it, its append at the cached version fails, and the stream is loaded
// afresh, as after any lost race. It holds the ids of the stream's events, so that a
// command retried through the same process is recognised from the cache; one carried out
// through another process is recognised when the store reports the retried append as a
// duplicate (AppendResult.Duplicate).
//
// States must be persistent values: the aggregate's Evolve never modifies the slices or
// maps of the state it is given (ticket.Evolve guarantees it), since a cached state is
// shared by every command that reads it. A StateCache is safe for concurrent use.
type StateCache[S any] struct {
	max int

	mu      sync.Mutex
	order   *list.List // of *cacheEntry[S], most recently used first; guarded by mu
	entries map[string]*list.Element
}

type cacheEntry[S any] struct {
	stream string
	loaded Loaded[S]
	// ids maps the stream's event ids to their version and, for the last event of each
	// command, its position.
	ids map[uuid.UUID]eventRef
}

type eventRef struct {
	version  uint64
	position eventstore.Position
}

// NewStateCache returns a cache of at most size streams; size <= 0 gives a cache that
// keeps nothing.
func NewStateCache[S any](size int) *StateCache[S] {
	return &StateCache[S]{max: size, order: list.New(), entries: make(map[string]*list.Element)}
}

// get returns the cached state of stream and what command wrote there, if the stream is
// cached.
func (c *StateCache[S]) get(stream string, command uuid.UUID) (Loaded[S], earlier, bool) {
	if !c.enabled() {
		return Loaded[S]{}, earlier{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[stream]
	if !ok {
		return Loaded[S]{}, earlier{}, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cacheEntry[S])
	var done earlier
	for {
		ref, ok := e.ids[envelope.EventID(command, done.count)]
		if !ok {
			break
		}
		done = earlier{found: true, count: done.count + 1, version: ref.version, position: ref.position}
	}
	return e.loaded, done, true
}

// loaded caches a state read from the store with the ids of its events.
func (c *StateCache[S]) loaded(stream string, l Loaded[S], events []eventstore.RecordedEvent) {
	if !c.enabled() || l.Version == 0 {
		return
	}
	ids := make(map[uuid.UUID]eventRef, len(events)+4)
	for _, re := range events {
		ids[re.ID] = eventRef{version: re.Version, position: re.Position}
	}
	c.put(&cacheEntry[S]{stream: stream, loaded: l, ids: ids})
}

// appended caches the state after an append of events (with ids) onto the cached state
// prev, if prev is what the cache holds for stream, or onto no stream at all (the append
// started it); otherwise it drops stream's entry.
func (c *StateCache[S]) appended(stream string, prev, next Loaded[S], ids []uuid.UUID) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	el, ok := c.entries[stream]
	var known map[uuid.UUID]eventRef
	switch {
	case ok && el.Value.(*cacheEntry[S]).loaded.Version == prev.Version:
		known = el.Value.(*cacheEntry[S]).ids
	case ok:
		c.removeLocked(el)
		c.mu.Unlock()
		return
	case prev.Version != 0:
		c.mu.Unlock()
		return
	}
	// Here the append was at the cached version, or it started the stream: either way
	// next is the stream's state as stored.
	c.mu.Unlock()
	grown := make(map[uuid.UUID]eventRef, len(known)+len(ids))
	for id, ref := range known {
		grown[id] = ref
	}
	first := next.Version - uint64(len(ids)) + 1
	for i, id := range ids {
		grown[id] = eventRef{version: first + uint64(i), position: next.Position}
	}
	c.put(&cacheEntry[S]{stream: stream, loaded: next, ids: grown})
}

// enabled reports whether c keeps states at all.
func (c *StateCache[S]) enabled() bool { return c != nil && c.max > 0 }

// forget drops stream's entry.
func (c *StateCache[S]) forget(stream string) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		c.removeLocked(el)
	}
}

// put stores e unless the cache holds a later version of its stream, evicting the least
// recently used entries beyond the size.
func (c *StateCache[S]) put(e *cacheEntry[S]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.stream]; ok {
		if el.Value.(*cacheEntry[S]).loaded.Version > e.loaded.Version {
			return
		}
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.entries[e.stream] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		c.removeLocked(c.order.Back())
	}
}

func (c *StateCache[S]) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*cacheEntry[S]).stream)
	c.order.Remove(el)
}

// Len returns the number of streams cached.
func (c *StateCache[S]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
