package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Statuses returned by the SQL functions eventstore_append and eventstore_tombstone.
const (
	statusDone       = 0
	statusIdempotent = 1
	statusWrong      = 2
	statusDeleted    = 3
	statusNotFound   = 4
)

// Kinds of expected version as the SQL functions take them.
const (
	expectAny          = 0
	expectNoStream     = 1
	expectStreamExists = 2
	expectExact        = 3
)

func expectedArgs(e eventstore.ExpectedVersion) (kind int16, version int64) {
	switch {
	case e.IsNoStream():
		return expectNoStream, 0
	case e.IsStreamExists():
		return expectStreamExists, 0
	}
	if v, ok := e.ExactVersion(); ok {
		return expectExact, int64(v)
	}
	return expectAny, 0
}

// lockKey is the key of the advisory lock that serialises the appends and tombstones of
// stream (second argument of pg_advisory_xact_lock(1702064500, key)). Two streams may
// share a key; they then merely wait for each other.
func lockKey(stream string) int32 {
	h := fnv.New32a()
	h.Write([]byte(stream))
	return int32(h.Sum32())
}

const appendSQL = `SELECT r_status, r_version, r_transaction_id, r_position
FROM eventstore_append($1, $2, $3, $4, $5, $6, $7, $8)`

// Append implements eventstore.Store. It validates the events with eventstore.CheckAppend
// (filling in zero IDs), then writes them in one transaction and one round trip. A retry
// whose event IDs are those stored right after the expected version (for Any and
// StreamExists: stored anywhere in the stream, at consecutive versions) returns the
// original result and writes nothing. Data and metadata are stored byte for byte; the store
// does not parse them.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	op := "append to " + strconv.Quote(stream)
	if err := s.checkOpen(ctx, op); err != nil {
		return eventstore.AppendResult{}, err
	}
	ids := make([]uuid.UUID, len(events))
	types := make([]string, len(events))
	data := make([][]byte, len(events))
	metadata := make([][]byte, len(events))
	for i, e := range events {
		ids[i], types[i], data[i], metadata[i] = e.ID, e.Type, e.Data, e.Metadata
	}
	kind, version := expectedArgs(expected)

	var (
		status int16
		actual int64
		xid    *string
		pos    *int64
	)
	err := s.pool.QueryRow(ctx, appendSQL, stream, lockKey(stream), kind, version, ids, types, data, metadata).
		Scan(&status, &actual, &xid, &pos)
	if err != nil {
		if isUniqueViolation(err, "events_stream_version_key") {
			return eventstore.AppendResult{}, s.wrongVersion(ctx, op, stream, expected)
		}
		return eventstore.AppendResult{}, classify(ctx, op, err)
	}
	switch status {
	case statusDone, statusIdempotent:
		if xid == nil || pos == nil {
			return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: the database returned no position", op)
		}
		p, err := makePosition(*xid, *pos)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", op, err)
		}
		if status == statusDone {
			s.announce()
		}
		return eventstore.AppendResult{Version: uint64(actual), Position: p}, nil
	case statusWrong:
		return eventstore.AppendResult{}, &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: uint64(actual), ActualKnown: true}
	case statusDeleted:
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", op, eventstore.ErrStreamDeleted)
	}
	return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: unexpected status %d", op, status)
}

// wrongVersion builds the error for an append that lost a race on the unique (stream,
// version) constraint, which the stream lock normally prevents.
func (s *Store) wrongVersion(ctx context.Context, op, stream string, expected eventstore.ExpectedVersion) error {
	var actual int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT version FROM streams WHERE name = $1), 0)`, stream).Scan(&actual)
	if err != nil {
		return classify(ctx, op, err)
	}
	return &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: uint64(actual), ActualKnown: true}
}

const tombstoneSQL = `SELECT r_status, r_version FROM eventstore_tombstone($1, $2, $3, $4)`

// Tombstone implements eventstore.Store. A stream that never held an event can be
// tombstoned with Any or NoStream, so that it can never be created. The stream's events
// stay in the global log.
func (s *Store) Tombstone(ctx context.Context, stream string, expected eventstore.ExpectedVersion) error {
	if err := eventstore.CheckStreamName(stream); err != nil {
		return err
	}
	op := "tombstone " + strconv.Quote(stream)
	if err := s.checkOpen(ctx, op); err != nil {
		return err
	}
	kind, version := expectedArgs(expected)
	var (
		status int16
		actual int64
	)
	if err := s.pool.QueryRow(ctx, tombstoneSQL, stream, lockKey(stream), kind, version).Scan(&status, &actual); err != nil {
		return classify(ctx, op, err)
	}
	switch status {
	case statusDone:
		return nil
	case statusWrong:
		return &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: uint64(actual), ActualKnown: true}
	case statusDeleted:
		return fmt.Errorf("pgstore: %s: %w", op, eventstore.ErrStreamDeleted)
	case statusNotFound:
		return fmt.Errorf("pgstore: %s: %w", op, eventstore.ErrStreamNotFound)
	}
	return fmt.Errorf("pgstore: %s: unexpected status %d", op, status)
}
