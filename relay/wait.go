package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/eventstore"
)

// ErrWaitTimeout is the cause of WaitFor's error when its bound passes before the relay
// reaches the position.
var ErrWaitTimeout = errors.New("relay: the relay did not reach the position in time")

// waitScanMax bounds WaitFor's read of the log between the checkpoint and the position.
const waitScanMax = 4096

// WaitFor returns nil once the relay has recorded every outcome and execution report of
// the log up to and including pos: its saved checkpoint is at or after pos, or the log
// between the checkpoint and pos holds none of them (the relay saves its progress through
// other events only now and then). It looks again every poll, waiting at most timeout.
// It is how a read of deliveries and outcomes sees its own writes: give it the position
// a command returned. Errors: a *domain.Error of kind Unavailable, code
// "projection-behind", wrapping ErrWaitTimeout when the bound passes; an error wrapping
// ctx.Err() when ctx ends first; a database or event store error.
func (r *Relay) WaitFor(ctx context.Context, pos eventstore.Position, timeout, poll time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// blocker is an outcome or execution report at or before pos that a read of the log
	// found: until the checkpoint passes it, the log need not be read again.
	var blocker eventstore.Position
	for {
		cp, err := r.store.Checkpoint(ctx, r.cfg.Name)
		if err != nil {
			return err
		}
		if !cp.Before(pos) {
			return nil
		}
		if !cp.Before(blocker) {
			var passed bool
			passed, blocker, err = eventstore.ScanBetween(ctx, r.events, relayedFilter, cp, pos, waitScanMax)
			if err != nil {
				return fmt.Errorf("relay: wait for %s: %w", pos, err)
			}
			if passed {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay: wait for %s: %w", pos, ctx.Err())
		case <-deadline.C:
			return &domain.Error{Kind: domain.Unavailable, Code: "projection-behind",
				Message: fmt.Sprintf("the webhook outcomes and deliveries have not caught up with position %s after %s; try again", pos, timeout),
				Cause:   ErrWaitTimeout}
		case <-time.After(poll):
		}
	}
}
