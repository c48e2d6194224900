package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// DefaultScanLimit is the number of events a default ScanCounter reads at most.
const DefaultScanLimit = 10_000

// Counter counts the events of the log between two positions. Implementations are safe
// for concurrent use.
type Counter interface {
	// Count returns the number of events after after, up to and including upTo.
	// complete is false when the counter stopped early: n is then a lower bound.
	Count(ctx context.Context, after, upTo eventstore.Position) (n int64, complete bool, err error)
}

// ScanCounter counts by reading the log forwards, at most Limit events (default
// DefaultScanLimit), in pages of 1,000: exact below the limit, incomplete (a lower bound)
// at it. It works on every store, at the cost of reading the events it counts; on
// EventStoreDB, whose positions are byte offsets, it is the only exact count there is.
type ScanCounter struct {
	Store eventstore.Store
	Limit int
}

// Count implements Counter.
func (c ScanCounter) Count(ctx context.Context, after, upTo eventstore.Position) (int64, bool, error) {
	limit := c.Limit
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	var n int64
	from := after
	for n < int64(limit) {
		if !from.Before(upTo) {
			return n, true, nil
		}
		page := min(1000, limit-int(n))
		evs, err := c.Store.ReadAll(ctx, eventstore.ReadAllOptions{From: from, Count: page})
		if err != nil {
			return n, false, fmt.Errorf("projections: count events: %w", err)
		}
		for _, e := range evs {
			if e.Position.After(upTo) {
				return n, true, nil
			}
			n++
		}
		if len(evs) < page {
			return n, true, nil
		}
		from = evs[len(evs)-1].Position
	}
	return n, !from.Before(upTo), nil
}

// SequenceCounter counts without I/O on the positions of eventstore/pgstore, whose minor
// component is the events table's identity column: the count is the difference of the
// two identities, always complete. It is exact-ish: it overcounts by the identities burnt
// by rolled-back appends, and events committed out of identity order by concurrent
// writers can shift it by a few. Do not use it with another store.
type SequenceCounter struct{}

// Count implements Counter.
func (SequenceCounter) Count(_ context.Context, after, upTo eventstore.Position) (int64, bool, error) {
	_, a := after.Parts()
	_, b := upTo.Parts()
	if b <= a {
		return 0, true, nil
	}
	return int64(b - a), true, nil
}

// Status is what a projection reports about itself.
type Status struct {
	Name string
	// Checkpoint is the log position its tables reflect.
	Checkpoint eventstore.Position
	// UpdatedAt is when the checkpoint was last written; LastEventAt is when the store
	// recorded the last event applied (zero before any).
	UpdatedAt   time.Time
	LastEventAt time.Time
	// EventsApplied counts the events applied since the tables were created or rebuilt.
	EventsApplied int64
	// Running reports whether this Runner runs the projection; Active that it is the one
	// process that follows the log for it, holding its lock, rather than standing by
	// while another is active (see Runner); CaughtUp that, active, it has applied every
	// event stored when it subscribed.
	Running  bool
	Active   bool
	CaughtUp bool
	// Healthy is false when the projection stopped on an event (Err says why, also when
	// another process, the active one, stopped), when this Runner, active, is retrying a
	// failure of the store or the database, or when, standing by, it cannot keep the
	// connection that would hold the projection's lock.
	Healthy bool
	Err     string
	// Head is the position of the last event of the log, as the store's ReadAll shows
	// it (pgstore shows events only once no transaction that could commit an earlier one
	// is running, so Head may trail the last append by the length of such transactions).
	Head eventstore.Position
	Lag  Lag
}

// Lag is how far a projection is behind the head of the log.
type Lag struct {
	// Events is the number of log events after the checkpoint, of every stream, including
	// those the projection's filter skips, as the Runner's Counter counts them;
	// EventsAtLeast is set when the Counter stopped early and Events is a lower bound.
	// Both are zero when the filter selects none of those events (see WaitFor).
	Events        int64
	EventsAtLeast bool
	// Time is the age of the oldest event after the checkpoint: how long ago the store
	// recorded the first event the projection has yet to pass. Zero when caught up.
	Time time.Duration
}

// Status reports every projection of the Runner, in the order they were given. It reads
// the checkpoint table (so it reflects the work of other processes too) and the head of
// the log. It is safe for concurrent use.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	head, headOK, err := logEdge(ctx, r.store, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		return nil, fmt.Errorf("projections: status: read the head of the log: %w", err)
	}
	out := make([]Status, 0, len(r.order))
	for _, name := range r.order {
		st, err := r.status(ctx, r.workers[name])
		if err != nil {
			return nil, err
		}
		if headOK {
			st.Head = head.Position
			if err := r.lag(ctx, &st, r.workers[name].p.Filter()); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// status reads a projection's row and merges what the worker knows.
func (r *Runner) status(ctx context.Context, w *worker) (Status, error) {
	st := Status{Name: w.name}
	var (
		pos       string
		lastAt    *time.Time
		failure   *string
		updatedAt time.Time
	)
	err := r.pool.QueryRow(ctx, `SELECT position, last_event_at, events_applied, updated_at, error
		FROM public.projection_checkpoints WHERE name = $1`, w.name).Scan(&pos, &lastAt, &st.EventsApplied, &updatedAt, &failure)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("projections: status of %s: %w", w.name, err)
	}
	if st.Checkpoint, err = eventstore.ParsePosition(pos); err != nil {
		return st, fmt.Errorf("projections: status of %s: %w", w.name, err)
	}
	st.UpdatedAt = updatedAt
	if lastAt != nil {
		st.LastEventAt = *lastAt
	}
	w.mu.Lock()
	st.Running, st.Active, st.CaughtUp = w.running, w.active, w.caughtUp
	failed, interrupt := w.failed, w.interrupt
	w.mu.Unlock()
	var locks error
	r.mu.Lock()
	if r.lease != nil {
		locks = r.lease.failure()
	}
	r.mu.Unlock()
	st.Healthy = true
	switch {
	case failed != nil:
		st.Healthy, st.Err = false, failed.Error()
	case st.Active && interrupt != nil:
		st.Healthy, st.Err = false, interrupt.Error()
	case st.Running && !st.Active && locks != nil:
		st.Healthy, st.Err = false, locks.Error()
	case !st.Active && failure != nil:
		st.Healthy, st.Err = false, *failure
	}
	return st, nil
}

// lag fills st.Lag against st.Head. A projection whose filter selects nothing between
// its checkpoint and the head has no lag: it reflects the whole log.
func (r *Runner) lag(ctx context.Context, st *Status, filter eventstore.Filter) error {
	if !st.Checkpoint.Before(st.Head) {
		st.Lag = Lag{}
		return nil
	}
	idle, err := r.nothingBetween(ctx, filter, st.Checkpoint, st.Head)
	if err != nil {
		return fmt.Errorf("projections: lag of %s: %w", st.Name, err)
	}
	if idle {
		st.Lag = Lag{}
		return nil
	}
	n, complete, err := r.cfg.Counter.Count(ctx, st.Checkpoint, st.Head)
	if err != nil {
		return fmt.Errorf("projections: lag of %s: %w", st.Name, err)
	}
	st.Lag.Events, st.Lag.EventsAtLeast = n, !complete
	first, ok, err := logEdge(ctx, r.store, eventstore.ReadAllOptions{From: st.Checkpoint, Count: 1})
	if err != nil {
		return fmt.Errorf("projections: lag of %s: %w", st.Name, err)
	}
	if ok {
		st.Lag.Time = max(0, time.Since(first.Created))
	}
	return nil
}

// logEdge reads one event of the log.
func logEdge(ctx context.Context, store eventstore.Store, opts eventstore.ReadAllOptions) (eventstore.RecordedEvent, bool, error) {
	evs, err := store.ReadAll(ctx, opts)
	if err != nil || len(evs) == 0 {
		return eventstore.RecordedEvent{}, false, err
	}
	return evs[0], true, nil
}
