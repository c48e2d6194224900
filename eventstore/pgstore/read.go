package pgstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

// makePosition builds a position from a transaction id in its text form and a row position.
func makePosition(xid string, pos int64) (eventstore.Position, error) {
	x, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("transaction id %q: %w", xid, err)
	}
	return eventstore.MakePosition(x, uint64(pos)), nil
}

// positionArgs returns the query arguments for p: the transaction id as text (pgx has no
// codec for xid8; the queries cast it) and the row position, clamped to bigint.
func positionArgs(p eventstore.Position) (string, int64) {
	major, minor := p.Parts()
	return strconv.FormatUint(major, 10), int64(min(minor, math.MaxInt64))
}

// The stream reads return one row per event, or a single row without event when the
// range is empty, each with the type of the stream's last event: NULL if the stream holds
// none, '$tombstone' if it was tombstoned.
const (
	lastTypeSQL = `SELECT type AS last_type FROM events WHERE stream = $1 ORDER BY version DESC LIMIT 1`

	readStreamForwardsSQL = `SELECT st.last_type,
	e.transaction_id::text, e.position, e.version, e.event_id, e.type, e.data, e.metadata, e.created
FROM (SELECT (` + lastTypeSQL + `) AS last_type) st
LEFT JOIN LATERAL (
	SELECT * FROM events ev
	WHERE ev.stream = $1 AND ev.version >= $2 AND st.last_type <> '` + tombstoneType + `'
	ORDER BY ev.version
	LIMIT $3
) e ON true
ORDER BY e.version`

	readStreamBackwardsSQL = `SELECT st.last_type,
	e.transaction_id::text, e.position, e.version, e.event_id, e.type, e.data, e.metadata, e.created
FROM (SELECT (` + lastTypeSQL + `) AS last_type) st
LEFT JOIN LATERAL (
	SELECT * FROM events ev
	WHERE ev.stream = $1 AND ev.version <= $2 AND st.last_type <> '` + tombstoneType + `'
	ORDER BY ev.version DESC
	LIMIT $3
) e ON true
ORDER BY e.version DESC`
)

// ReadStream implements eventstore.Store. It reads the stream's state and its events in
// one statement, hence from one snapshot.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.CheckStreamName(stream); err != nil {
		return nil, err
	}
	op := "read stream " + strconv.Quote(stream)
	if opts.Count < 0 {
		return nil, fmt.Errorf("%w: %s: negative count %d", eventstore.ErrInvalid, op, opts.Count)
	}
	if opts.Direction != eventstore.Forwards && opts.Direction != eventstore.Backwards {
		return nil, fmt.Errorf("%w: %s: unknown direction %d", eventstore.ErrInvalid, op, opts.Direction)
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	var limit *int64
	if opts.Count > 0 {
		n := int64(opts.Count)
		limit = &n
	}
	from := int64(min(opts.From, math.MaxInt64))
	query := readStreamForwardsSQL
	if opts.Direction == eventstore.Backwards {
		query = readStreamBackwardsSQL
		if opts.From == 0 {
			from = math.MaxInt64
		}
	}
	rows, err := s.pool.Query(ctx, query, stream, from, limit)
	if err != nil {
		return nil, classify(ctx, op, err)
	}
	defer rows.Close()

	var (
		row    streamRow
		events []eventstore.RecordedEvent
	)
	for rows.Next() {
		if err := rows.Scan(row.dest()...); err != nil {
			return nil, classify(ctx, op, err)
		}
		e, ok, err := row.event(stream)
		if err != nil {
			return nil, fmt.Errorf("pgstore: %s: %w", op, err)
		}
		if ok {
			events = append(events, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, op, err)
	}
	if err := row.streamErr(); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return events, nil
}

// streamRow receives a row of a stream read: the type of the stream's last event, NULL
// if it has none, and an event, whose columns are NULL on the row of an empty range.
type streamRow struct {
	lastType       *string
	xid            *string
	pos, version   *int64
	id             *[16]byte
	typ            *string
	data, metadata []byte
	created        *time.Time
}

// dest returns the scan destinations of the row's columns after those a query puts first.
func (r *streamRow) dest(first ...any) []any {
	return append(first, &r.lastType, &r.xid, &r.pos, &r.version, &r.id, &r.typ, &r.data, &r.metadata, &r.created)
}

// event returns the row's event of stream, ok false if the row holds none.
func (r *streamRow) event(stream string) (e eventstore.RecordedEvent, ok bool, err error) {
	if r.pos == nil {
		return e, false, nil
	}
	p, err := makePosition(*r.xid, *r.pos)
	if err != nil {
		return e, false, err
	}
	return eventstore.RecordedEvent{ID: uuid.UUID(*r.id), Stream: stream, Version: uint64(*r.version), Position: p,
		Type: *r.typ, Data: r.data, Metadata: r.metadata, Created: r.created.UTC()}, true, nil
}

// streamErr says whether the stream of the row cannot be read: ErrStreamNotFound or
// ErrStreamDeleted.
func (r *streamRow) streamErr() error {
	switch {
	case r.lastType == nil:
		return eventstore.ErrStreamNotFound
	case *r.lastType == tombstoneType:
		return eventstore.ErrStreamDeleted
	}
	return nil
}

// readStreamsSQL reads the first $2 events (0: all) of each stream of $1, in the order of
// the arrays, with the stream's ordinal in $1 and, as readStreamForwardsSQL, the type of
// its last event on each row: one row per event, or a single row without event.
const readStreamsSQL = `SELECT r.n, st.last_type,
	e.transaction_id::text, e.position, e.version, e.event_id, e.type, e.data, e.metadata, e.created
FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS r(stream, count, n)
CROSS JOIN LATERAL (SELECT (SELECT l.type FROM events l WHERE l.stream = r.stream ORDER BY l.version DESC LIMIT 1) AS last_type) st
LEFT JOIN LATERAL (
	SELECT * FROM events ev
	WHERE ev.stream = r.stream AND st.last_type <> '` + tombstoneType + `'
	ORDER BY ev.version
	LIMIT NULLIF(r.count, 0)
) e ON true
ORDER BY r.n, e.version`

// ReadStreams implements eventstore.StreamsReader with one query for all the streams.
func (s *Store) ReadStreams(ctx context.Context, reads []eventstore.StreamRead) ([]eventstore.StreamEvents, error) {
	op := fmt.Sprintf("read %d streams", len(reads))
	streams, counts := make([]string, len(reads)), make([]int64, len(reads))
	for i, r := range reads {
		if err := eventstore.CheckStreamName(r.Stream); err != nil {
			return nil, err
		}
		if r.Count < 0 {
			return nil, fmt.Errorf("%w: read stream %q: negative count %d", eventstore.ErrInvalid, r.Stream, r.Count)
		}
		streams[i], counts[i] = r.Stream, int64(r.Count)
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	out := make([]eventstore.StreamEvents, len(reads))
	if len(reads) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, readStreamsSQL, streams, counts)
	if err != nil {
		return nil, classify(ctx, op, err)
	}
	defer rows.Close()
	var (
		row streamRow
		n   int64
	)
	for rows.Next() {
		if err := rows.Scan(row.dest(&n)...); err != nil {
			return nil, classify(ctx, op, err)
		}
		if n < 1 || n > int64(len(reads)) {
			return nil, fmt.Errorf("pgstore: %s: a row of read %d", op, n)
		}
		i := n - 1
		e, ok, err := row.event(reads[i].Stream)
		if err != nil {
			return nil, fmt.Errorf("pgstore: %s: %w", op, err)
		}
		if ok {
			out[i].Events = append(out[i].Events, e)
		}
		if err := row.streamErr(); err != nil {
			out[i].Err = fmt.Errorf("pgstore: read stream %q: %w", reads[i].Stream, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, op, err)
	}
	return out, nil
}

// The global-log reads. A backward read returns up to $3 committed rows before the cursor
// ($1, $2) in descending (transaction_id, position) order, whether or not they are below
// the horizon: the column visible says so, computed from the statement's own snapshot, and
// the visible rows form a suffix. A forward read returns up to $3 visible rows after the
// cursor in ascending order, followed by the first hidden row if there is one, without its
// data: readers need to know that committed rows wait behind the horizon, not what they
// hold, and a log under many concurrent writers always has some. Rows that do not pass the
// filter ($4 stream prefixes, $5 type prefixes; empty means any) come without data and
// metadata.
const (
	logMatch = `CROSS JOIN LATERAL (SELECT
	(cardinality($4::text[]) = 0 OR e.stream ^@ ANY ($4::text[]))
	AND (cardinality($5::text[]) = 0 OR e.type ^@ ANY ($5::text[]))
	AND NOT e.stream ^@ '$' AND NOT e.type ^@ '$' AS match) m`

	logColumns = `e.transaction_id::text, e.position,
	e.transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())) AS visible,
	m.match, e.stream, e.version, e.event_id, e.type,
	CASE WHEN m.match THEN e.data END, CASE WHEN m.match THEN e.metadata END, e.created
FROM events e
` + logMatch

	readLogForwardsSQL = `WITH h AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT r.transaction_id::text, r.position, r.visible, r.match, r.stream, r.version, r.event_id, r.type, r.data, r.metadata, r.created
FROM (
	(SELECT e.transaction_id, e.position, true AS visible, m.match, e.stream, e.version, e.event_id, e.type,
		CASE WHEN m.match THEN e.data END AS data, CASE WHEN m.match THEN e.metadata END AS metadata, e.created
	FROM events e
	` + logMatch + `
	WHERE (e.transaction_id, e.position) > ($1::text::xid8, $2::bigint) AND e.transaction_id < (SELECT xmin FROM h)
	ORDER BY e.transaction_id, e.position
	LIMIT $3)
	UNION ALL
	(SELECT e.transaction_id, e.position, false, false, e.stream, e.version, e.event_id, e.type, NULL, NULL, e.created
	FROM events e
	WHERE e.transaction_id >= greatest((SELECT xmin FROM h), $1::text::xid8) AND (e.transaction_id > $1::text::xid8 OR e.position > $2::bigint)
	ORDER BY e.transaction_id, e.position
	LIMIT 1)
) r
ORDER BY r.transaction_id, r.position`

	readLogBackwardsSQL = `SELECT ` + logColumns + `
WHERE (e.transaction_id, e.position) < ($1::text::xid8, $2::bigint)
ORDER BY e.transaction_id DESC, e.position DESC
LIMIT $3`
)

// logRow is a row of a global-log read.
type logRow struct {
	visible bool
	match   bool
	event   eventstore.RecordedEvent
}

// readLog runs a global-log read from cursor (exclusive) in the given direction and
// appends its rows to buf. Backwards from Start reads from the end of the log.
func (s *Store) readLog(ctx context.Context, dir eventstore.Direction, cursor eventstore.Position, limit int, filter eventstore.Filter, buf []logRow) ([]logRow, error) {
	query := readLogForwardsSQL
	if dir == eventstore.Backwards {
		query = readLogBackwardsSQL
		if cursor.IsZero() {
			cursor = eventstore.MakePosition(math.MaxUint64, math.MaxInt64)
		}
	}
	xid, pos := positionArgs(cursor)
	streams, types := filter.StreamPrefixes, filter.TypePrefixes
	if streams == nil {
		streams = []string{}
	}
	if types == nil {
		types = []string{}
	}
	rows, err := s.pool.Query(ctx, query, xid, pos, limit, streams, types)
	if err != nil {
		return buf, err
	}
	defer rows.Close()
	var (
		xidText string
		rowPos  int64
		version int64
	)
	for rows.Next() {
		var r logRow
		e := &r.event
		if err := rows.Scan(&xidText, &rowPos, &r.visible, &r.match, &e.Stream, &version, (*[16]byte)(&e.ID), &e.Type, &e.Data, &e.Metadata, &e.Created); err != nil {
			return buf, err
		}
		if e.Position, err = makePosition(xidText, rowPos); err != nil {
			return buf, err
		}
		e.Version = uint64(version)
		e.Created = e.Created.UTC()
		buf = append(buf, r)
	}
	return buf, rows.Err()
}

// ReadAll implements eventstore.Store. It returns only events below the visibility horizon
// (see the package documentation). When events committed before the call are hidden
// behind transactions still running, it waits for them, up to Config.VisibilityWait, so
// that a read that follows an append sees it; past that wait it returns the visible events,
// which may be fewer than opts.Count. Reading on from the last event returned never skips
// an event.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	const op = "read all"
	if opts.Count <= 0 {
		return nil, fmt.Errorf("%w: pgstore: %s: count %d is not positive", eventstore.ErrInvalid, op, opts.Count)
	}
	if opts.Direction != eventstore.Forwards && opts.Direction != eventstore.Backwards {
		return nil, fmt.Errorf("%w: pgstore: %s: unknown direction %d", eventstore.ErrInvalid, op, opts.Direction)
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	var (
		events   []eventstore.RecordedEvent
		rows     []logRow
		cursor   = opts.From
		deadline = time.Now().Add(s.cfg.VisibilityWait)
	)
	for len(events) < opts.Count {
		limit := opts.Count - len(events)
		var err error
		if rows, err = s.readVisible(ctx, opts.Direction, cursor, limit, deadline, rows[:0]); err != nil {
			return nil, classify(ctx, op, err)
		}
		scanned := 0
		for _, r := range rows {
			if !r.visible {
				if opts.Direction == eventstore.Forwards {
					break
				}
				continue
			}
			scanned++
			cursor = r.event.Position
			if r.match {
				events = append(events, r.event)
			}
		}
		if scanned < limit {
			break
		}
	}
	return events, nil
}

// readVisible reads the log as readLog does, repeating the read with backoff until
// deadline while it returns committed rows that the horizon still hides.
func (s *Store) readVisible(ctx context.Context, dir eventstore.Direction, cursor eventstore.Position, limit int, deadline time.Time, buf []logRow) ([]logRow, error) {
	wait := visibilityRetryMin
	for {
		rows, err := s.readLog(ctx, dir, cursor, limit, eventstore.Filter{}, buf[:0])
		if err != nil {
			return nil, err
		}
		hidden, visible := false, 0
		for _, r := range rows {
			hidden = hidden || !r.visible
			if r.visible {
				visible++
			}
		}
		if !hidden || visible >= limit || time.Now().Add(wait).After(deadline) {
			return rows, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, visibilityRetryMax)
		buf = rows
	}
}

// Backoff of the reads that wait for the horizon to pass committed events.
const (
	visibilityRetryMin = time.Millisecond
	visibilityRetryMax = 50 * time.Millisecond
)

// sleep waits for d or until ctx is done, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
