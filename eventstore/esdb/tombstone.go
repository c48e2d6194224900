package esdb

import (
	"context"
	"errors"
	"fmt"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Tombstone implements eventstore.Store with EventStoreDB's hard delete. The server
// reports a wrong expected version on deletes only in the status message, which carries
// the actual revision on current servers; when it does not, the actual version is read
// right after the refusal and may have moved since. A refusal for a stream that holds no
// event, with an expectation other than Any or NoStream, is eventstore.ErrStreamNotFound.
func (s *Store) Tombstone(ctx context.Context, stream string, expected eventstore.ExpectedVersion) error {
	if err := eventstore.CheckStreamName(stream); err != nil {
		return err
	}
	opts := esdbclient.TombstoneStreamOptions{ExpectedRevision: toRevision(expected), Deadline: unaryDeadline(ctx)}
	err := s.call(ctx, func(c *esdbclient.Client) error {
		_, err := c.TombstoneStream(ctx, stream, opts)
		return err
	})
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("tombstone %q", stream)
	if ctx.Err() != nil || classify(err) != failWrongVersion {
		return portError(ctx, what, err)
	}
	actual, known := actualVersion(err)
	if !known {
		evs, rerr := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, Count: 1})
		switch {
		case rerr == nil && len(evs) == 1:
			actual, known = evs[0].Version, true
		case errors.Is(rerr, eventstore.ErrStreamNotFound):
			actual, known = 0, true
		case errors.Is(rerr, eventstore.ErrStreamDeleted):
			return fmt.Errorf("esdb: %s: %w", what, eventstore.ErrStreamDeleted)
		}
	}
	if known && actual == 0 && !expected.IsAny() && !expected.IsNoStream() {
		return fmt.Errorf("esdb: %s: %w", what, eventstore.ErrStreamNotFound)
	}
	return &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: actual, ActualKnown: known}
}
