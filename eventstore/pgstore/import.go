package pgstore

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// ImportStream is a new stream for Import: its name and all its events, the first of
// which becomes version 1.
type ImportStream struct {
	Stream string
	Events []eventstore.EventData
}

// DefaultImportChunk is the default of ImportOptions.ChunkEvents.
const DefaultImportChunk = 50000

// ImportOptions tunes an Import. The zero value selects every default.
type ImportOptions struct {
	// ChunkEvents is the size of a chunk, the events written by one transaction. A chunk
	// holds whole streams: it ends with the stream that brings it to ChunkEvents or more.
	// Default DefaultImportChunk.
	ChunkEvents int
	// Progress, when not nil, is called from Import's goroutine after every chunk it
	// committed.
	Progress func(ImportProgress)
}

// ImportProgress counts what an Import committed.
type ImportProgress struct {
	Chunks  int
	Streams int64
	Events  int64
	// Position is the log position of the last event committed; Start before any.
	Position eventstore.Position
	// Elapsed is the time since Import was called.
	Elapsed time.Duration
}

// importColumns are the columns of the events table that Import writes; the others take
// their defaults as they do on appends.
var importColumns = []string{"stream", "version", "event_id", "type", "data", "metadata"}

// lastImportedSQL returns the position of the last event written by the current
// transaction.
const lastImportedSQL = `SELECT transaction_id::text, position FROM events
WHERE transaction_id = pg_current_xact_id() ORDER BY position DESC LIMIT 1`

// Import writes new streams in bulk: it is the path for seeding a store and for migrating
// history into it, far faster than one Append per stream. Each stream is written as an
// Append with NoStream would write it, after the same validation (eventstore.CheckAppend,
// which fills in zero event IDs, so a stream cannot exceed eventstore.MaxAppendSize).
//
// The streams are written with COPY in chunks of ImportOptions.ChunkEvents events, one
// transaction each, in the order streams yields them. A chunk holds whole streams, so
// every stream is written by one transaction, its events at increasing positions in
// version order: the log keeps the order guarantees of appends (see the package
// documentation). Readers of the global log see a chunk once it commits, all at once;
// while a chunk is being written, it holds back the visibility horizon of every reader of
// the cluster, as any running transaction does. Import announces every committed chunk to
// subscriptions as an append does.
//
// Import stops at the first failure and returns the progress committed so far with the
// error; the chunk in progress is not written, the chunks before it stay. A stream that
// already exists, written before or by an earlier chunk, is refused by the store's unique
// key: the error is then a *eventstore.WrongVersionError naming the stream, or wraps
// eventstore.ErrStreamDeleted for a tombstoned one. An invalid stream, or one that comes
// twice in a chunk, gives an error wrapping eventstore.ErrInvalid or
// eventstore.ErrEventTooLarge; an error yielded by streams is returned wrapped. streams is
// iterated from Import's goroutine and from another one, never at the same time; it should
// end when ctx ends, since Import waits for it, and Import then returns ctx.Err() wrapped.
func (s *Store) Import(ctx context.Context, streams iter.Seq2[ImportStream, error], opts ImportOptions) (ImportProgress, error) {
	start := time.Now()
	var done ImportProgress
	if err := s.checkOpen(ctx); err != nil {
		return done, fmt.Errorf("pgstore: import: %w", err)
	}
	limit := opts.ChunkEvents
	if limit <= 0 {
		limit = DefaultImportChunk
	}
	next, stop := iter.Pull2(streams)
	defer stop()
	src := &importSource{next: next, limit: limit, seen: make(map[string]struct{})}
	for {
		op := fmt.Sprintf("import: chunk %d", done.Chunks+1)
		src.reset()
		if !src.advance() {
			if src.err != nil {
				return done, fmt.Errorf("pgstore: %s: %w", op, src.err)
			}
			if err := ctx.Err(); err != nil {
				return done, fmt.Errorf("pgstore: %s: %w", op, err)
			}
			return done, nil
		}
		pos, err := s.importChunk(ctx, op, src)
		if err != nil {
			return done, err
		}
		s.announce()
		done.Chunks++
		done.Streams += int64(len(src.names))
		done.Events += src.events
		done.Position = pos
		done.Elapsed = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
}

// importChunk writes the chunk src yields in one transaction and returns the position of
// its last event. Its errors are those of Import, for the operation op.
func (s *Store) importChunk(ctx context.Context, op string, src *importSource) (eventstore.Position, error) {
	if err := s.checkOpen(ctx); err != nil {
		return eventstore.Position{}, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return eventstore.Position{}, classify(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, importColumns, src)
	switch {
	case src.err != nil:
		return eventstore.Position{}, fmt.Errorf("pgstore: %s: %w", op, src.err)
	case isUniqueViolation(err, "events_stream_version_key"):
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return eventstore.Position{}, s.existingStream(ctx, op, src.names, err)
	case err != nil:
		return eventstore.Position{}, classify(ctx, op, err)
	case n != src.events:
		return eventstore.Position{}, fmt.Errorf("pgstore: %s: copied %d events of %d", op, n, src.events)
	}
	var (
		xid string
		pos int64
	)
	if err := tx.QueryRow(ctx, lastImportedSQL).Scan(&xid, &pos); err != nil {
		return eventstore.Position{}, classify(ctx, op, err)
	}
	p, err := makePosition(xid, pos)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return eventstore.Position{}, classify(ctx, op, err)
	}
	return p, nil
}

// existingSQL returns the first of the streams $1 that holds an event, with the version
// and type of its last event.
const existingSQL = `SELECT n.stream, l.version, l.type
FROM unnest($1::text[]) WITH ORDINALITY AS n(stream, o)
CROSS JOIN LATERAL (
	SELECT e.version, e.type FROM events e WHERE e.stream = n.stream ORDER BY e.version DESC LIMIT 1
) AS l
ORDER BY n.o LIMIT 1`

// existingStream tells which of the streams of a chunk refused by the unique key already
// exists. When none does any more (its writer rolled back), it returns the key violation.
func (s *Store) existingStream(ctx context.Context, op string, names []string, violation error) error {
	var (
		stream, typ string
		version     int64
	)
	err := s.pool.QueryRow(ctx, existingSQL, names).Scan(&stream, &version, &typ)
	switch {
	case isNoRows(err):
		return classify(ctx, op, violation)
	case err != nil:
		return classify(ctx, op, err)
	case typ == tombstoneType:
		return fmt.Errorf("pgstore: %s: stream %q: %w", op, stream, eventstore.ErrStreamDeleted)
	}
	return fmt.Errorf("pgstore: %s: %w", op, &eventstore.WrongVersionError{Stream: stream, Expected: eventstore.NoStream, Actual: uint64(version), ActualKnown: true})
}

// importSource feeds the rows of one chunk at a time to COPY, pulling streams from the
// caller's iterator and validating each before its first row.
type importSource struct {
	next  func() (ImportStream, error, bool)
	limit int

	// The chunk: the names of its streams, the events yielded so far, the stream being
	// copied and the index of its next event.
	names  []string
	seen   map[string]struct{}
	events int64
	cur    ImportStream
	i      int
	row    [6]any
	// err is the failure of the iterator or of a stream's validation.
	err error
}

// reset empties the chunk.
func (src *importSource) reset() {
	src.names = src.names[:0]
	clear(src.seen)
	src.events = 0
	src.cur, src.i = ImportStream{}, 0
}

// advance makes the next stream of the iterator current and reports whether there is
// one; it sets err when the iterator fails or the stream is invalid.
func (src *importSource) advance() bool {
	st, err, ok := src.next()
	switch {
	case !ok:
		return false
	case err != nil:
		src.err = err
		return false
	}
	if err := eventstore.CheckAppend(st.Stream, st.Events); err != nil {
		src.err = err
		return false
	}
	if _, dup := src.seen[st.Stream]; dup {
		src.err = fmt.Errorf("%w: stream %q comes twice", eventstore.ErrInvalid, st.Stream)
		return false
	}
	src.seen[st.Stream] = struct{}{}
	src.names = append(src.names, st.Stream)
	src.cur, src.i = st, 0
	return true
}

// Next implements pgx.CopyFromSource: the chunk ends after the stream that fills it.
func (src *importSource) Next() bool {
	if src.i == len(src.cur.Events) {
		if src.events >= int64(src.limit) || !src.advance() {
			return false
		}
	}
	e := &src.cur.Events[src.i]
	src.i++
	src.events++
	src.row = [6]any{src.cur.Stream, int64(src.i), [16]byte(e.ID), e.Type, e.Data, e.Metadata}
	return true
}

// Values implements pgx.CopyFromSource.
func (src *importSource) Values() ([]any, error) { return src.row[:], nil }

// Err implements pgx.CopyFromSource.
func (src *importSource) Err() error { return src.err }
