package esdb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ticketledger/ticketledger/eventstore"
)

// subscriptionBuffer is the number of messages a subscription holds for a slow reader.
const subscriptionBuffer = 64

// Subscribe implements eventstore.Store with a catch-up subscription to $all.
//
// The server filters on the stream prefixes of filter if it has any, else on its type
// prefixes, else on event types not starting with '$'; the whole filter, and the exclusion
// of system events, is then applied again on the client, so the server's checkpoints (every
// 32 events scanned and at the end of catch-up) keep advancing through events neither
// side delivers. CaughtUp is taken from the server's caught-up message (EventStoreDB 23.10
// and later; an older server never sends it) and is delivered once, with the position of
// the last event or checkpoint received (from, when none was). Later fell-behind and
// caught-up messages of the server are not passed on.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	opts := esdbclient.SubscribeToAllOptions{From: esdbclient.Start{}, Filter: serverFilter(filter)}
	if !from.IsZero() {
		opts.From = fromPosition(from)
	}
	subCtx, cancel := context.WithCancel(ctx)
	var inner *esdbclient.Subscription
	err := s.call(ctx, func(c *esdbclient.Client) error {
		var err error
		inner, err = c.SubscribeToAll(subCtx, opts)
		return err
	})
	if err != nil {
		cancel()
		return nil, portError(ctx, "subscribe to $all", err)
	}
	sub := &subscription{
		parent: ctx,
		ctx:    subCtx,
		cancel: cancel,
		inner:  inner,
		filter: filter,
		last:   from,
		msgs:   make(chan eventstore.Message, subscriptionBuffer),
		done:   make(chan struct{}),
	}
	go sub.run()
	return sub, nil
}

// serverFilter picks the part of f the server applies.
func serverFilter(f eventstore.Filter) *esdbclient.SubscriptionFilter {
	switch {
	case len(f.StreamPrefixes) > 0:
		return &esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: f.StreamPrefixes}
	case len(f.TypePrefixes) > 0:
		return &esdbclient.SubscriptionFilter{Type: esdbclient.EventFilterType, Prefixes: f.TypePrefixes}
	}
	return esdbclient.ExcludeSystemEventsFilter()
}

// subscription is an eventstore.Subscription over a client subscription. Its run
// goroutine owns last and caughtUp.
type subscription struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	inner  *esdbclient.Subscription
	filter eventstore.Filter
	msgs   chan eventstore.Message
	done   chan struct{}

	last     eventstore.Position
	caughtUp bool

	closed    atomic.Bool
	closeOnce sync.Once
	mu        sync.Mutex
	err       error
}

// Messages implements eventstore.Subscription.
func (s *subscription) Messages() <-chan eventstore.Message { return s.msgs }

// Err implements eventstore.Subscription.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close implements eventstore.Subscription.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.inner.Close()
	})
	<-s.done
	return nil
}

func (s *subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		s.err = nil
	case s.parent.Err() != nil:
		s.err = fmt.Errorf("esdb: subscription to $all: %w", s.parent.Err())
	default:
		s.err = err
	}
}

func (s *subscription) run() {
	defer close(s.done)
	defer close(s.msgs)
	defer func() {
		if r := recover(); r != nil {
			s.fail(fmt.Errorf("esdb: subscription to $all: %w: the EventStoreDB client panicked: %v", eventstore.ErrUnavailable, r))
		}
	}()
	for {
		ev := s.inner.Recv()
		var m eventstore.Message
		switch {
		case ev.SubscriptionDropped != nil:
			s.fail(portError(s.ctx, "subscription to $all", ev.SubscriptionDropped.Error))
			return
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.OriginalEvent()
			p := toPosition(e.Position)
			if p.After(s.last) {
				s.last = p
			}
			if isSystem(e) || !s.filter.Match(e.StreamID, e.EventType) {
				continue
			}
			rec := toRecorded(e)
			m = eventstore.Message{Kind: eventstore.EventMessage, Event: &rec, Position: p}
		case ev.CheckPointReached != nil:
			if p := toPosition(*ev.CheckPointReached); p.After(s.last) {
				s.last = p
			}
			m = eventstore.Message{Kind: eventstore.CheckpointMessage, Position: s.last}
		case ev.CaughtUp != nil:
			if s.caughtUp {
				continue
			}
			s.caughtUp = true
			m = eventstore.Message{Kind: eventstore.CaughtUpMessage, Position: s.last}
		default:
			continue
		}
		select {
		case s.msgs <- m:
		case <-s.ctx.Done():
			s.fail(nil)
			return
		}
	}
}
