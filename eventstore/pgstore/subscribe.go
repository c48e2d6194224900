package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// messageBuffer is the capacity of a subscription's Messages channel: the subscription
// reads its next batch while the consumer works through the previous one. It also bounds
// what a consumer that fell behind finds waiting when it comes back: a projection takes
// what is there into its next batch, and a buffer smaller than its batch (500 events by
// default) cuts the batches short while it catches up. With 1,024 instead of 256, the
// tickets projection under a 64-client load paced about half as many commands (six
// interleaved pairs: 780 against 1,474 on average) for 1.5 % fewer instructions.
const messageBuffer = 1024

// hiddenRetryMax caps the backoff of a subscription, or of the shared reader, that waits
// for the horizon to pass events already committed. The horizon is held back by any
// transaction that holds an id (a projection's batch, the relay's checkpoint), mostly for
// a few milliseconds: a reader that slept longer than that after it passed left the
// projections idle with events to apply. Under a 64-client load, 5 ms against 25 ms
// halved the commands paced for the tickets read model in three interleaved pairs (422
// against 1,278, 304 against 592, 536 against 970) and lowered the p99 by 6–22 ms; 2 ms
// read more and paced no fewer.
const hiddenRetryMax = 5 * time.Millisecond

// Subscribe implements eventstore.Store. The subscription runs in its own goroutine and
// uses a pool connection only while it reads. It ends with an error wrapping
// eventstore.ErrUnavailable when a read fails or the Store is closed, and with ctx.Err()
// when ctx ends. CaughtUp is sent once every event committed before the subscription
// started has been delivered. The filter's prefix slices are copied.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: subscribe: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	sub := &subscription{
		store:  s,
		parent: ctx,
		from:   from,
		filter: eventstore.Filter{
			StreamPrefixes: slices.Clone(filter.StreamPrefixes),
			TypePrefixes:   slices.Clone(filter.TypePrefixes),
		},
		msgs:   make(chan eventstore.Message, messageBuffer),
		cancel: cancel,
		done:   make(chan struct{}),
		wake:   s.hub.add(),
	}
	s.startListener()
	s.feed.join()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	started := s.goBackground(func() {
		defer stopOnClose()
		sub.run(runCtx)
	})
	if !started {
		cancel()
		s.feed.leave()
		s.hub.remove(sub.wake)
		return nil, fmt.Errorf("pgstore: subscribe: %w: %w", eventstore.ErrUnavailable, errClosed)
	}
	return sub, nil
}

// subscription implements eventstore.Subscription.
type subscription struct {
	store  *Store
	parent context.Context
	from   eventstore.Position
	filter eventstore.Filter
	msgs   chan eventstore.Message
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
	closed atomic.Bool
	// err is why the subscription ended, set before msgs is closed.
	err atomic.Pointer[error]
}

// Messages implements eventstore.Subscription.
func (sub *subscription) Messages() <-chan eventstore.Message { return sub.msgs }

// Err implements eventstore.Subscription.
func (sub *subscription) Err() error {
	if sub.closed.Load() {
		return nil
	}
	if err := sub.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Close implements eventstore.Subscription. It is idempotent, safe for concurrent use,
// and returns nil.
func (sub *subscription) Close() error {
	sub.closed.Store(true)
	sub.cancel()
	<-sub.done
	return nil
}

func (sub *subscription) run(ctx context.Context) {
	err := sub.follow(ctx)
	switch {
	case sub.parent.Err() != nil:
		err = fmt.Errorf("pgstore: subscription: %w", sub.parent.Err())
	case sub.store.ctx.Err() != nil:
		err = fmt.Errorf("pgstore: subscription: %w: %w", eventstore.ErrUnavailable, errClosed)
	case err != nil:
		err = classify(ctx, "subscription", err)
	}
	sub.err.Store(&err)
	sub.store.feed.leave()
	sub.store.hub.remove(sub.wake)
	close(sub.msgs)
	close(sub.done)
}

const headSQL = `SELECT transaction_id::text, position FROM events
ORDER BY transaction_id DESC, position DESC LIMIT 1`

// head returns the position of the last committed event, or Start in an empty log.
func (s *Store) head(ctx context.Context) (eventstore.Position, error) {
	var (
		xid string
		pos int64
	)
	err := s.pool.QueryRow(ctx, headSQL).Scan(&xid, &pos)
	if err != nil {
		if isNoRows(err) {
			return eventstore.Start, nil
		}
		return eventstore.Position{}, err
	}
	return makePosition(xid, pos)
}

// follow delivers the log until ctx ends or a read fails. It reads in batches from the
// cursor, the last position scanned, and moves the cursor only over visible rows, so
// that an event hidden behind a running transaction is read once the horizon passes it.
func (sub *subscription) follow(ctx context.Context) error {
	s := sub.store
	target, err := s.head(ctx)
	if err != nil {
		return err
	}
	var (
		cursor   = sub.from
		caughtUp bool
		pending  int // events scanned but filtered out since the last message
		retry    = visibilityRetryMin
		rows     []logRow
		timer    = time.NewTimer(s.cfg.PollInterval)
	)
	defer timer.Stop()
	for {
		var (
			changed  <-chan struct{}
			fromFeed bool
		)
		rows, changed, fromFeed = s.feed.after(cursor, s.cfg.BatchSize, rows[:0])
		if fromFeed {
			s.feedReads.Add(1)
		} else {
			s.ownReads.Add(1)
			if rows, err = s.readLog(ctx, eventstore.Forwards, cursor, s.cfg.BatchSize, sub.filter, rows[:0]); err != nil {
				return err
			}
		}
		visible, delivered := 0, 0
		for i := range rows {
			r := &rows[i]
			if !r.visible {
				break
			}
			visible++
			cursor = r.event.Position
			if !r.match || fromFeed && !sub.filter.Match(r.event.Stream, r.event.Type) {
				pending++
				continue
			}
			// The window's rows are shared by every subscription, their bytes too: the
			// subscribers read them and never modify them (see eventstore.Store).
			e := r.event
			if !sub.send(ctx, eventstore.Message{Kind: eventstore.EventMessage, Event: &e, Position: cursor}) {
				return nil
			}
			delivered++
			pending = 0
		}
		if pending > 0 && (delivered == 0 || pending >= s.cfg.CheckpointInterval) {
			if !sub.send(ctx, eventstore.Message{Kind: eventstore.CheckpointMessage, Position: cursor}) {
				return nil
			}
			pending = 0
		}
		if visible == s.cfg.BatchSize {
			continue
		}
		hidden := visible < len(rows)
		if !caughtUp {
			if cursor.Compare(target) >= 0 {
				if !sub.send(ctx, eventstore.Message{Kind: eventstore.CaughtUpMessage, Position: cursor}) {
					return nil
				}
				caughtUp = true
			} else {
				hidden = true
			}
		}
		if fromFeed {
			if visible == 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-changed:
				}
			}
			continue
		}
		wait := s.cfg.PollInterval
		if hidden {
			wait = min(retry, wait)
			retry = min(2*retry, hiddenRetryMax)
		} else {
			retry = visibilityRetryMin
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-sub.wake:
		case <-timer.C:
		}
	}
}

// send delivers m unless ctx ends first.
func (sub *subscription) send(ctx context.Context, m eventstore.Message) bool {
	select {
	case sub.msgs <- m:
		return true
	case <-ctx.Done():
		return false
	}
}
