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
// When this Runner runs the projection, WaitFor wakes as soon as a batch commits;
// otherwise it reads the checkpoint table every Config.WaitPoll, so that an API process
// can wait for a projector process. Errors: ErrUnknownProjection; ErrWaitTimeout (as a
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
	for {
		w.mu.Lock()
		local, cp, failed, changed := w.running, w.checkpoint, w.failed, w.changed
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
			poll.Reset(r.cfg.WaitPoll)
			tick = poll.C
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
		}
	}
}
