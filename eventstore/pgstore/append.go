package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ticketledger/ticketledger/eventstore"
)

// tombstoneType is the type of the system event that ends a tombstoned stream.
const tombstoneType = "$tombstone"

// Kinds of expected version: the second index of appendStatements, and $2 of
// tombstoneSQL.
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

// lastEventSQL selects the version and type of the last event of stream $1.
const lastEventSQL = `SELECT e.version, e.type FROM events e WHERE e.stream = $1 ORDER BY e.version DESC LIMIT 1`

// lastEventCTE is lastEventSQL as the common table expression last.
const lastEventCTE = `last AS (` + lastEventSQL + `)`

// appendSQL returns the statement of an append of one event (single, with scalar
// parameters) or of several (with arrays), at the given kind of expected version. It is
// one statement, run as a transaction of its own, that inserts the events ($2..$5) into
// stream $1 at the versions following its last event, provided that the stream is not
// tombstoned, that the expected version holds ($6 for Exact) and, for Any and
// StreamExists, that none of the event IDs is already in the stream. It returns the
// transaction id, position and version of each event written, and no row if it wrote
// nothing.
//
// Each kind has a statement of its own, with no condition on a parameter that a custom
// plan could fold away: PostgreSQL then settles on one generic plan per statement instead
// of planning every execution anew.
//
// Why this keeps each stream's events in version order in the log, read in
// (transaction_id, position) order: a transaction id is assigned at the first write, here
// the insert, which comes after the statement's snapshot is taken. The insert of version
// k+1 can only succeed if version k is in that snapshot, hence committed before, by a
// transaction whose id was assigned earlier still. Two appends computed from the same
// version collide on events_stream_version_key (the later one waits for the earlier and
// fails if it commits).
func appendSQL(single bool, kind int16) string {
	rows, ids := `unnest($2::uuid[], $3::text[], $4::bytea[], $5::bytea[]) WITH ORDINALITY`, `ANY ($2::uuid[])`
	if single {
		rows, ids = `(VALUES ($2::uuid, $3::text, $4::bytea, $5::bytea, 1))`, `$2::uuid`
	}
	rows += ` AS u(id, type, data, metadata, o)`
	const last = `(` + lastEventSQL + `) AS l`
	const live = `l.type <> '` + tombstoneType + `'`
	unseen := `NOT EXISTS (SELECT FROM events e WHERE e.stream = $1 AND e.event_id = ` + ids + `)`
	var version, from, where string
	switch kind {
	case expectAny:
		version, from, where = `coalesce(l.version, 0)`, rows+` LEFT JOIN `+last+` ON true`, `coalesce(l.type, '') <> '`+tombstoneType+`' AND `+unseen
	case expectNoStream:
		version, from, where = `0`, rows, `NOT EXISTS (SELECT FROM events e WHERE e.stream = $1)`
	case expectStreamExists:
		version, from, where = `l.version`, last+`, `+rows, live+` AND `+unseen
	default:
		version, from, where = `l.version`, last+`, `+rows, `l.version = $6::bigint AND `+live
	}
	return `INSERT INTO events (stream, version, event_id, type, data, metadata)
SELECT $1, ` + version + ` + u.o, u.id, u.type, u.data, u.metadata
FROM ` + from + `
WHERE ` + where + `
ORDER BY u.o
RETURNING transaction_id::text, position, version`
}

// appendStatements holds appendSQL(single, kind) at [single][kind].
var appendStatements = func() (st [2][4]string) {
	for kind := range int16(4) {
		st[0][kind], st[1][kind] = appendSQL(false, kind), appendSQL(true, kind)
	}
	return st
}()

// retryLimit bounds the attempts of an Any or StreamExists append or a tombstone that
// keeps losing races on its stream; every lost race means another writer progressed.
const retryLimit = 1000

// Append implements eventstore.Store. It validates the events with eventstore.CheckAppend
// (filling in zero IDs), then writes them with one statement in one round trip. An append
// that does not write takes one more round trip to tell why: a retry whose event IDs are
// those stored right after the expected version (for Any and StreamExists: stored anywhere
// in the stream, at consecutive versions) returns the original result; otherwise the error
// is a *eventstore.WrongVersionError or wraps eventstore.ErrStreamDeleted. Checking the IDs
// of an Any or StreamExists append scans the stream's index entries. An Any or
// StreamExists append that loses a race with another writer is retried. Data and metadata
// are stored byte for byte.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", appendOp(stream), err)
	}
	kind, version := expectedArgs(expected)
	if s.groups != nil && (kind == expectNoStream || kind == expectExact) {
		return s.groups.append(ctx, stream, version, events, func() (eventstore.AppendResult, error) {
			return s.appendAlone(ctx, stream, expected, kind, version, events)
		})
	}
	return s.appendAlone(ctx, stream, expected, kind, version, events)
}

// eventColumns holds events as the append statements take them: one array per column.
type eventColumns struct {
	ids            [][16]byte
	types          []string
	data, metadata [][]byte
}

func newEventColumns(n int) *eventColumns {
	return &eventColumns{ids: make([][16]byte, 0, n), types: make([]string, 0, n), data: make([][]byte, 0, n), metadata: make([][]byte, 0, n)}
}

func (c *eventColumns) add(events []eventstore.EventData) {
	for _, e := range events {
		c.ids, c.types, c.data, c.metadata = append(c.ids, e.ID), append(c.types, e.Type), append(c.data, e.Data), append(c.metadata, e.Metadata)
	}
}

// appendAlone writes an append with a statement of its own.
func (s *Store) appendAlone(ctx context.Context, stream string, expected eventstore.ExpectedVersion, kind int16, version int64,
	events []eventstore.EventData) (eventstore.AppendResult, error) {
	args := make([]any, 5, 6)
	args[0] = stream
	if kind == expectExact {
		args = append(args, version)
	}
	query := appendStatements[0][kind]
	if len(events) == 1 {
		e := events[0]
		query = appendStatements[1][kind]
		args[1], args[2], args[3], args[4] = [16]byte(e.ID), e.Type, e.Data, e.Metadata
	} else {
		c := newEventColumns(len(events))
		c.add(events)
		args[1], args[2], args[3], args[4] = c.ids, c.types, c.data, c.metadata
	}

	for attempt := 0; attempt < retryLimit; attempt++ {
		res, wrote, err := s.insert(ctx, query, args)
		switch {
		case isUniqueViolation(err, "events_stream_version_key"):
			if kind == expectAny || kind == expectStreamExists {
				continue
			}
		case err != nil:
			return eventstore.AppendResult{}, classify(ctx, appendOp(stream), err)
		case wrote:
			s.announce()
			return res, nil
		}
		return s.resolveConflict(ctx, stream, expected, events)
	}
	return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w: lost %d races in a row", appendOp(stream), eventstore.ErrUnavailable, retryLimit)
}

func appendOp(stream string) string { return "append to " + strconv.Quote(stream) }

// insert runs an append statement and returns the version and position of the last event
// it wrote, if any.
func (s *Store) insert(ctx context.Context, query string, args []any) (eventstore.AppendResult, bool, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	defer rows.Close()
	var (
		res   eventstore.AppendResult
		wrote bool
		xid   string
		pos   int64
		ver   int64
	)
	for rows.Next() {
		if err := rows.Scan(&xid, &pos, &ver); err != nil {
			return eventstore.AppendResult{}, false, err
		}
		p, err := makePosition(xid, pos)
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		res, wrote = eventstore.AppendResult{Version: uint64(ver), Position: p}, true
	}
	return res, wrote, rows.Err()
}

// resolveSQL reads the version and type of the last event of stream $1 and its events
// from version $2 on (for Any and StreamExists, $2 is 0 and the first version is that of
// event $3), for $4 versions.
const resolveSQL = `WITH ` + lastEventCTE + `, first AS (
	SELECT CASE WHEN $2::bigint > 0 THEN $2::bigint
		ELSE (SELECT min(version) FROM events WHERE stream = $1 AND event_id = $3) END AS v
)
SELECT coalesce((SELECT version FROM last), 0), coalesce((SELECT type FROM last), ''),
	e.version, e.event_id, e.transaction_id::text, e.position
FROM first f
LEFT JOIN LATERAL (
	SELECT * FROM events ev
	WHERE ev.stream = $1 AND ev.version >= f.v AND ev.version < f.v + $4
	ORDER BY ev.version
) e ON true
ORDER BY e.version`

// resolveConflict decides an append that did not write. The stream may be tombstoned;
// otherwise the append is an idempotent retry if the events stored right after the
// expected version (for Any and StreamExists, from the first event's ID on) have the
// appended IDs in order, and a wrong expected version if not.
func (s *Store) resolveConflict(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	var first int64
	if v, ok := expected.ExactVersion(); ok {
		first = int64(v) + 1
	} else if expected.IsNoStream() {
		first = 1
	}
	rows, err := s.pool.Query(ctx, resolveSQL, stream, first, [16]byte(events[0].ID), len(events))
	if err != nil {
		return eventstore.AppendResult{}, classify(ctx, appendOp(stream), err)
	}
	defer rows.Close()
	var (
		actual   int64
		lastType string
		matched  int
		last     eventstore.AppendResult
	)
	for rows.Next() {
		var (
			version *int64
			id      *[16]byte
			xid     *string
			pos     *int64
		)
		if err := rows.Scan(&actual, &lastType, &version, &id, &xid, &pos); err != nil {
			return eventstore.AppendResult{}, classify(ctx, appendOp(stream), err)
		}
		if version == nil || matched >= len(events) || *id != events[matched].ID {
			continue
		}
		matched++
		p, err := makePosition(*xid, *pos)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", appendOp(stream), err)
		}
		last = eventstore.AppendResult{Version: uint64(*version), Position: p}
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, classify(ctx, appendOp(stream), err)
	}
	switch {
	case lastType == tombstoneType:
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", appendOp(stream), eventstore.ErrStreamDeleted)
	case matched == len(events):
		last.Duplicate = true
		return last, nil
	}
	return eventstore.AppendResult{}, &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: uint64(actual), ActualKnown: true}
}

// tombstoneSQL tombstones stream $1 if its expected version ($2 kind, $3 version) holds,
// by appending a '$tombstone' system event: it races with appends on the same unique key
// as appends race with each other. It returns the stream's version, whether it was
// already tombstoned, and whether the statement tombstoned it.
const tombstoneSQL = `WITH ` + lastEventCTE + `, state AS (
	SELECT coalesce((SELECT version FROM last), 0) AS actual,
		coalesce((SELECT type FROM last), '') = '` + tombstoneType + `' AS deleted
), inserted AS (
	INSERT INTO events (stream, version, event_id, type, data)
	SELECT $1, s.actual + 1, gen_random_uuid(), '` + tombstoneType + `', '\x7b7d'::bytea
	FROM state s
	WHERE NOT s.deleted AND NOT (s.actual = 0 AND $2 IN (2, 3)) AND CASE $2::smallint
		WHEN 1 THEN s.actual = 0
		WHEN 3 THEN s.actual = $3::bigint
		ELSE true
	END
	RETURNING version
)
SELECT s.actual, s.deleted, EXISTS (SELECT FROM inserted) FROM state s`

// Tombstone implements eventstore.Store. It appends a system event of type '$tombstone'
// to the stream, which readers of the global log never deliver; the stream's events stay
// in the log. A stream that never held an event can be tombstoned with Any or NoStream,
// so that it can never be created.
func (s *Store) Tombstone(ctx context.Context, stream string, expected eventstore.ExpectedVersion) error {
	if err := eventstore.CheckStreamName(stream); err != nil {
		return err
	}
	op := "tombstone " + strconv.Quote(stream)
	if err := s.checkOpen(ctx); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	kind, version := expectedArgs(expected)
	for attempt := 0; attempt < retryLimit; attempt++ {
		var (
			actual       int64
			deleted, did bool
		)
		err := s.pool.QueryRow(ctx, tombstoneSQL, stream, kind, version).Scan(&actual, &deleted, &did)
		switch {
		case isUniqueViolation(err, "events_stream_version_key"):
			continue
		case err != nil:
			return classify(ctx, op, err)
		case did:
			s.announce()
			return nil
		case deleted:
			return fmt.Errorf("pgstore: %s: %w", op, eventstore.ErrStreamDeleted)
		case actual == 0 && (kind == expectStreamExists || kind == expectExact):
			return fmt.Errorf("pgstore: %s: %w", op, eventstore.ErrStreamNotFound)
		}
		return &eventstore.WrongVersionError{Stream: stream, Expected: expected, Actual: uint64(actual), ActualKnown: true}
	}
	return fmt.Errorf("pgstore: %s: %w: lost %d races in a row", op, eventstore.ErrUnavailable, retryLimit)
}
