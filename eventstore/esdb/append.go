package esdb

import (
	"context"
	"fmt"
	"unicode/utf16"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Append implements eventstore.Store. Events are written as JSON (content type
// application/json) with their Metadata as the custom metadata. Besides
// eventstore.CheckAppend, it refuses with eventstore.ErrEventTooLarge an append that
// EventStoreDB would refuse: the server counts each event type twice (as UTF-16), so an
// append within eventstore.MaxAppendSize by the port's count may still be too large.
// An idempotent retry returns the original version and the position the server reports.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if n := serverAppendSize(events); n > eventstore.MaxAppendSize {
		return eventstore.AppendResult{}, fmt.Errorf("%w: append to %q: %d bytes as EventStoreDB counts them (event types twice) exceeds the %d-byte limit",
			eventstore.ErrEventTooLarge, stream, n, eventstore.MaxAppendSize)
	}
	data := make([]esdbclient.EventData, len(events))
	for i, e := range events {
		data[i] = esdbclient.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdbclient.ContentTypeJson,
			Data:        e.Data,
			Metadata:    e.Metadata,
		}
	}
	opts := esdbclient.AppendToStreamOptions{ExpectedRevision: toRevision(expected), Deadline: unaryDeadline(ctx)}
	var res *esdbclient.WriteResult
	err := s.call(ctx, func(c *esdbclient.Client) error {
		var err error
		res, err = c.AppendToStream(ctx, stream, opts, data...)
		return err
	})
	if err != nil {
		if ctx.Err() == nil && classify(err) == failWrongVersion {
			actual, known := actualVersion(err)
			return eventstore.AppendResult{}, &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: actual, ActualKnown: known}
		}
		return eventstore.AppendResult{}, portError(ctx, fmt.Sprintf("append to %q", stream), err)
	}
	return eventstore.AppendResult{
		Version:  res.NextExpectedVersion + 1,
		Position: eventstore.MakePosition(res.CommitPosition, res.PreparePosition),
	}, nil
}

// serverAppendSize is the size of an append as EventStoreDB counts it against its limit:
// data, custom metadata and twice the UTF-16 length of the event type.
func serverAppendSize(events []eventstore.EventData) int {
	n := 0
	for _, e := range events {
		n += len(e.Data) + len(e.Metadata) + 2*len(utf16.Encode([]rune(e.Type)))
	}
	return n
}
