package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketledger/ticketledger/eventstore"
)

// classify wraps a database error for the operation op: with ctx.Err() when ctx is done,
// with eventstore.ErrUnavailable when the database could not be reached, failed or timed
// out, and as is otherwise.
func classify(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("pgstore: %s: %w: %w", op, ctxErr, err)
	}
	if unavailable(err) {
		return fmt.Errorf("pgstore: %s: %w: %w", op, eventstore.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// unavailable reports whether err means that the database, rather than the request, is at
// fault. Errors reported by the server are judged by their SQLSTATE class: connection
// exceptions (08), insufficient resources (53), operator intervention such as a statement
// timeout or shutdown (57) and system errors (58). Apart from scan errors, every other
// error comes from the connection itself (refused, reset, timed out, pool closed).
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
		return false
	}
	var scanErr pgx.ScanArgError
	return !errors.As(err, &scanErr)
}

// isUniqueViolation reports whether err is a unique violation of the named constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
