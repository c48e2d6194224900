package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/eventstore"
)

// WaitFor returns nil once the projection named name has passed pos — its stored
// checkpoint is at or after pos, so its tables reflect every event up to pos — waiting at
// most timeout (Config.WaitTimeout when timeout is not positive). It is how a query reads
// its own writes: give it the position a command returned.
//
// When this Runner is the active one for the projection, WaitFor wakes as soon as a batch
// commits; otherwise (it does not run the projection, or stands by while another process
// is active) it reads the checkpoint table every Config.WaitPoll, so that an API process
// can wait for a projector process. A projection whose checkpoint stays short of pos also
// counts as having passed it when the log between them holds no event its filter
// selects (up to MaxGapScan events are read to tell): a store may checkpoint filtered
// subscriptions only every so many events (EventStoreDB), which would otherwise hold
// such a wait until the next matching event. Errors: ErrUnknownProjection; ErrWaitTimeout (as a
// domain.Unavailable *domain.Error, code "projection-behind") when the bound passes;
// ErrStopped when the projection stopped on a failing event; an error wrapping ctx.Err()
// when ctx ends first; a database error. Safe for concurrent use.
func (r *Runner) WaitFor(ctx context.Context, name string, pos eventstore.Position, timeout time.Duration) error {
	w, ok := r.workers[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownProjection, name)
	}
	if timeout <= 0 {
		timeout = r.cfg.WaitTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTimer(r.cfg.WaitPoll)
	defer poll.Stop()
	var (
		gapChecked bool
		gapFor     eventstore.Position
		gap        = time.NewTimer(gapDelay)
		// blocker is an event at or before pos that the filter selects, found by a gap
		// read: while the checkpoint is short of it the log cannot be read as passed.
		blocker eventstore.Position
	)
	defer gap.Stop()
	for {
		w.mu.Lock()
		local, cp, failed, changed := w.active, w.checkpoint, w.failed, w.changed
		w.mu.Unlock()
		if failed != nil {
			return fmt.Errorf("%w: %s: %w", ErrStopped, name, failed)
		}
		if !cp.Before(pos) {
			return nil
		}
		var tick <-chan time.Time
		if !local {
			stored, err := readCheckpoint(ctx, r.pool, name, false)
			if err != nil {
				return fmt.Errorf("projections: wait for %s: %w", name, err)
			}
			if !stored.Before(pos) {
				return nil
			}
			cp = stored
			poll.Reset(r.cfg.WaitPoll)
			tick = poll.C
		}
		if gapChecked && cp != gapFor {
			gapChecked = false
			gap.Reset(gapDelay)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("projections: wait for %s: %w", name, ctx.Err())
		case <-deadline.C:
			return &domain.Error{Kind: domain.Unavailable, Code: "projection-behind",
				Message: fmt.Sprintf("the %s view has not caught up with position %s after %s; try again", name, pos, timeout),
				Cause:   ErrWaitTimeout}
		case <-changed:
		case <-tick:
		case <-gap.C:
			gapChecked, gapFor = true, cp
			w.mu.Lock()
			if shared := w.blocker; cp.Before(shared) && !shared.After(pos) {
				blocker = shared
			}
			w.mu.Unlock()
			if cp.Before(blocker) {
				continue
			}
			select {
			case w.scanning <- struct{}{}:
			default:
				// Another waiter is reading the log: look again after its result.
				gapChecked = false
				gap.Reset(gapDelay)
				continue
			}
			passed, selected, err := eventstore.ScanBetween(ctx, r.store, w.p.Filter(), cp, pos, MaxGapScan)
			<-w.scanning
			if err != nil {
				return fmt.Errorf("projections: wait for %s: %w", name, err)
			}
			if passed {
				return nil
			}
			if !selected.IsZero() {
				blocker = selected
				w.mu.Lock()
				w.blocker = selected
				w.mu.Unlock()
			}
		}
	}
}

// MaxGapScan is the largest number of log events WaitFor reads to find whether a
// projection's filter selects any event between its checkpoint and the position awaited.
const MaxGapScan = 2048

// gapDelay is how long WaitFor waits for a checkpoint to move before it reads the log
// between the checkpoint and the position awaited.
const gapDelay = 50 * time.Millisecond

// nothingBetween reports whether the log after from, up to and including to, is wholly
// readable and holds no event filter selects.
func (r *Runner) nothingBetween(ctx context.Context, filter eventstore.Filter, from, to eventstore.Position) (bool, error) {
	passed, _, err := eventstore.ScanBetween(ctx, r.store, filter, from, to, MaxGapScan)
	return passed, err
}
