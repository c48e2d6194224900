package relay

import (
	"container/list"

	"github.com/ticketledger/ticketledger/eventstore"
)

// recentStreams keeps, within a budget of bytes, the events of the ticket streams the
// relay has followed from their first event, so that an outcome's history, which the
// relay verifies and folds into the payload, comes from memory instead of a read of the
// stream. A stream is kept only while the relay has seen every event of it in order; the
// oldest streams go first when the budget is spent. A stream that is not kept is read
// from the store, as it is after a restart.
type recentStreams struct {
	budget  int
	size    int
	streams map[string]*recentStream
	order   *list.List // of stream names, oldest first
}

type recentStream struct {
	events []eventstore.RecordedEvent
	size   int
	elem   *list.Element
}

// newRecentStreams returns a buffer holding up to budget bytes of events; with a budget
// of 0 or less it keeps nothing.
func newRecentStreams(budget int) *recentStreams {
	return &recentStreams{budget: budget, streams: map[string]*recentStream{}, order: list.New()}
}

// eventSize is what an event counts against the budget.
func eventSize(e *eventstore.RecordedEvent) int {
	return len(e.Data) + len(e.Metadata) + len(e.Stream) + len(e.Type) + 128
}

// add records e, the next event of its stream in the log. A first event starts the
// stream; an event that does not follow the stream's last drops the stream.
func (r *recentStreams) add(e *eventstore.RecordedEvent) {
	if r.budget <= 0 {
		return
	}
	s := r.streams[e.Stream]
	switch {
	case e.Version == 1:
		r.drop(e.Stream)
		s = &recentStream{elem: r.order.PushBack(e.Stream)}
		r.streams[e.Stream] = s
	case s == nil:
		return
	case s.events[len(s.events)-1].Version+1 != e.Version:
		r.drop(e.Stream)
		return
	}
	n := eventSize(e)
	s.events = append(s.events, *e)
	s.size += n
	r.size += n
	for r.size > r.budget {
		r.drop(r.order.Front().Value.(string))
	}
}

// take returns the whole stream of e, ending with e, if every event before it is kept,
// and forgets the stream either way.
func (r *recentStreams) take(e *eventstore.RecordedEvent) ([]eventstore.RecordedEvent, bool) {
	s := r.streams[e.Stream]
	if s == nil {
		return nil, false
	}
	r.drop(e.Stream)
	if s.events[len(s.events)-1].Version+1 != e.Version {
		return nil, false
	}
	return append(s.events, *e), true
}

func (r *recentStreams) drop(stream string) {
	if s := r.streams[stream]; s != nil {
		r.order.Remove(s.elem)
		r.size -= s.size
		delete(r.streams, stream)
	}
}
