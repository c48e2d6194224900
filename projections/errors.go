package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Errors callers can test for with errors.Is.
var (
	// ErrUnknownProjection: the name given is not one of the Runner's projections.
	ErrUnknownProjection = errors.New("projections: unknown projection")
	// ErrWaitTimeout: WaitFor's bound passed before the projection reached the position.
	ErrWaitTimeout = errors.New("projections: the projection did not reach the position in time")
	// ErrStopped: the projection stopped on an event it could not apply; it stays behind
	// until it is retried (Runner.Retry or a restart) or rebuilt.
	ErrStopped = errors.New("projections: the projection stopped after a failure")
	// ErrRunning: Run was called while it already runs, or a second rebuild of one
	// projection was started.
	ErrRunning = errors.New("projections: already running")
)

// ApplyError reports an event a projection could not apply. The batch holding it was
// rolled back, so neither rows nor checkpoint moved past the event before it.
type ApplyError struct {
	Projection string
	Stream     string
	Version    uint64
	Type       string
	Position   eventstore.Position
	Err        error
}

// Error describes the event and the failure.
func (e *ApplyError) Error() string {
	return fmt.Sprintf("projections: %s: apply %s %s version %d (position %s): %v",
		e.Projection, e.Type, e.Stream, e.Version, e.Position, e.Err)
}

// Unwrap returns the cause.
func (e *ApplyError) Unwrap() error { return e.Err }

// transient reports whether err comes from the database or the network rather than from
// the data being written, so that the same work may succeed when tried again: errors of
// the server's SQLSTATE classes for connection exceptions (08), transaction rollbacks such
// as serialization failures and deadlocks (40), insufficient resources (53), operator
// intervention (57) and system errors (58), and every error that is not the server's.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57", "58":
			return true
		}
		return false
	}
	return true
}
