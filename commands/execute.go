package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// MaxAttempts bounds how often a command is decided again after losing a race for its
// stream's version.
const MaxAttempts = 8

// ErrConflict reports a command that lost the race for its stream MaxAttempts times.
var ErrConflict = errors.New("commands: too much contention on the stream; try again")

// Meta is what a command says about itself; it becomes the metadata of its events.
type Meta struct {
	// CommandID identifies the command; retrying with the same id never doubles an event.
	CommandID uuid.UUID
	// Actor is the authenticated principal issuing the command.
	Actor string
	// OnBehalfOf is the principal the actor acts for as a delegate, if any.
	OnBehalfOf    string
	CorrelationID string
	CausationID   string
	// Source is the system the command came from.
	Source    string
	RequestID string
	// Time is when the command was accepted; it is the time the domain sees.
	Time time.Time
}

// Codec maps an aggregate's events to their stored form and back. Every event type has a
// stable name and a JSON body; Schema is the body's schema version.
type Codec[E any] struct {
	Encode func(E) (eventType string, data []byte, err error)
	Decode func(eventType string, data []byte) (E, error)
	Schema int
}

// Aggregate describes how a stream folds into a state.
type Aggregate[S, E any] struct {
	Codec   Codec[E]
	Initial func() S
	Evolve  func(S, E) S
	// Chained streams carry the SHA-256 hash chain; loading them verifies it.
	Chained bool
}

// Loaded is an aggregate's state as read from its stream.
type Loaded[S any] struct {
	State S
	// Version is the stream's version (0: no stream).
	Version uint64
	// Position is the log position of the stream's last event.
	Position eventstore.Position
	// Head is the chain hash of the last event (Genesis for an empty or unchained stream).
	Head envelope.Hash
}

// Load reads and folds a whole stream. A missing stream yields the initial state at
// version 0. A chained stream whose chain does not verify is an error wrapping
// *envelope.BreakError: nothing is decided on a tampered history.
func Load[S, E any](ctx context.Context, store eventstore.Store, agg Aggregate[S, E], stream string) (Loaded[S], error) {
	l, _, _, err := load(ctx, store, agg, stream, uuid.Nil)
	return l, err
}

// earlier locates the events an earlier run of a command wrote.
type earlier struct {
	found    bool
	count    int
	version  uint64
	position eventstore.Position
}

// load is Load that also looks for the events command wrote, if it ran before, and
// returns the stream's events.
func load[S, E any](ctx context.Context, store eventstore.Store, agg Aggregate[S, E], stream string, command uuid.UUID) (Loaded[S], earlier, []eventstore.RecordedEvent, error) {
	var done earlier
	l := Loaded[S]{State: agg.Initial()}
	evs, err := store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return l, done, nil, nil
	}
	if err != nil {
		return l, done, nil, err
	}
	var v envelope.Verifier
	for _, re := range evs {
		if agg.Chained {
			if _, err := v.Next(envelope.Link{Version: re.Version, Type: re.Type, Data: re.Data, Metadata: re.Metadata}); err != nil {
				return l, done, nil, fmt.Errorf("commands: stream %s: %w", stream, err)
			}
		}
		e, err := agg.Codec.Decode(re.Type, re.Data)
		if err != nil {
			return l, done, nil, fmt.Errorf("commands: stream %s version %d: %w", stream, re.Version, err)
		}
		l.State = agg.Evolve(l.State, e)
		l.Version, l.Position = re.Version, re.Position
		if command != uuid.Nil && re.ID == envelope.EventID(command, done.count) {
			done = earlier{found: true, count: done.count + 1, version: re.Version, position: re.Position}
		}
	}
	l.Head = v.Head()
	return l, done, evs, nil
}

// Result is what a carried-out command returns.
type Result[S any] struct {
	// State is the aggregate's state after the command.
	State S
	// Version is the stream's version after the command.
	Version uint64
	// Position is the log position of the command's last event, or of the stream's last
	// event when the command changed nothing: a query waiting for it sees the command's effect.
	Position eventstore.Position
	// Appended is the number of events the command wrote (0 for a no-op).
	Appended int
	// Replayed is true when the command had already been carried out (the stream holds
	// the events its id derives): nothing was decided again, and Version and Position are
	// those of the command's last event.
	Replayed bool
}

// Execute carries out one command on one stream: it loads and folds the stream; when the
// stream already holds the events of this command id (a client's retry), it returns that
// earlier result without deciding again; otherwise it calls decide with the state and appends the events decide returns at the version it read.
// When another writer got there first it starts again, at most MaxAttempts times
// (ErrConflict after that). Errors from decide are returned as they are; a decide that
// returns no events makes Execute a no-op that still reports the stream's version and
// position.
func Execute[S, E any](ctx context.Context, store eventstore.Store, agg Aggregate[S, E], stream string, meta Meta, decide func(S) ([]E, error)) (Result[S], error) {
	return ExecuteCached(ctx, store, nil, agg, stream, meta, decide)
}

// ExecuteCached is Execute with the stream's state taken from cache when it holds it, and
// kept there after the command. A cached state that another process made stale costs one
// lost race: the append at its version fails and the stream is read afresh. A command
// refused, or found to change nothing, on a cached state is decided again on the stream
// as read, so that no answer rests on a stale state. cache may be nil.
func ExecuteCached[S, E any](ctx context.Context, store eventstore.Store, cache *StateCache[S], agg Aggregate[S, E], stream string, meta Meta, decide func(S) ([]E, error)) (Result[S], error) {
	return execute(ctx, store, cache, agg, stream, meta, decide, false)
}

// ExecuteCreating is ExecuteCached for a command that usually starts its stream, such as a
// submission: when cache does not hold the stream, the command is first decided on the
// initial state and appended as the stream's first events, without reading the stream.
// Where the stream exists after all, that append fails on its version (or is reported a
// duplicate, for a retry) and the command goes on as ExecuteCached would; a refusal or a
// no-op decided on the presumed initial state is decided again on the stream as read.
// Without a cache it is ExecuteCached: only a store that reports duplicate appends makes
// the presumption safe, and the cache is offered only with such stores.
func ExecuteCreating[S, E any](ctx context.Context, store eventstore.Store, cache *StateCache[S], agg Aggregate[S, E], stream string, meta Meta, decide func(S) ([]E, error)) (Result[S], error) {
	return execute(ctx, store, cache, agg, stream, meta, decide, true)
}

func execute[S, E any](ctx context.Context, store eventstore.Store, cache *StateCache[S], agg Aggregate[S, E], stream string, meta Meta, decide func(S) ([]E, error), presumeNew bool) (Result[S], error) {
	if meta.CommandID == uuid.Nil {
		return Result[S]{}, fmt.Errorf("%w: command without an id", eventstore.ErrInvalid)
	}
	useCache := true
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		var (
			l    Loaded[S]
			done earlier
			hit  bool
		)
		if useCache {
			l, done, hit = cache.get(stream, meta.CommandID)
		}
		if !hit && presumeNew && attempt == 0 && cache.enabled() {
			// Decided on the initial state; the append at version 0 checks the presumption.
			l, hit = Loaded[S]{State: agg.Initial()}, true
		}
		if !hit {
			var (
				evs []eventstore.RecordedEvent
				err error
			)
			if l, done, evs, err = load(ctx, store, agg, stream, meta.CommandID); err != nil {
				cache.forget(stream)
				return Result[S]{}, err
			}
			cache.loaded(stream, l, evs)
		}
		if done.found {
			return Result[S]{State: l.State, Version: done.version, Position: done.position, Appended: 0, Replayed: true}, nil
		}
		events, err := decide(l.State)
		if hit && (err != nil || len(events) == 0) {
			// A refusal or a no-op may come from a state another process made stale:
			// only the stream itself can confirm it.
			cache.forget(stream)
			useCache = false
			continue
		}
		if err != nil {
			return Result[S]{}, err
		}
		if len(events) == 0 {
			return Result[S]{State: l.State, Version: l.Version, Position: l.Position}, nil
		}
		data, next, err := encode(agg, meta, l, events)
		if err != nil {
			return Result[S]{}, err
		}
		began := time.Now()
		res, err := store.Append(ctx, stream, eventstore.Exact(l.Version), data...)
		timeAppend(ctx, began)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			cache.forget(stream)
			continue
		}
		if err != nil {
			cache.forget(stream)
			return Result[S]{}, err
		}
		if res.Duplicate {
			// Another run of this command (a retry through another process, or one that
			// raced this one) wrote its events first: answer from the stream.
			cache.forget(stream)
			useCache = false
			continue
		}
		next.Version, next.Position = res.Version, res.Position
		ids := make([]uuid.UUID, len(data))
		for i := range data {
			ids[i] = data[i].ID
		}
		cache.appended(stream, l, next, ids)
		return Result[S]{State: next.State, Version: res.Version, Position: res.Position, Appended: len(events)}, nil
	}
	return Result[S]{}, fmt.Errorf("%w (stream %s)", ErrConflict, stream)
}

// encode turns decided events into event data with ids derived from the command and
// sealed metadata, and folds them into the state; the Loaded it returns has the new
// state and chain head, and l's version and position.
func encode[S, E any](agg Aggregate[S, E], meta Meta, l Loaded[S], events []E) ([]eventstore.EventData, Loaded[S], error) {
	state := l.State
	out := make([]eventstore.EventData, len(events))
	prev := l.Head
	md := envelope.Metadata{
		Schema:        agg.Codec.Schema,
		Actor:         meta.Actor,
		OnBehalfOf:    meta.OnBehalfOf,
		CommandID:     meta.CommandID,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
		Source:        meta.Source,
		RequestID:     meta.RequestID,
		Time:          meta.Time.UTC(),
	}
	if md.CorrelationID == "" {
		md.CorrelationID = meta.CommandID.String()
	}
	for i, e := range events {
		typ, data, err := agg.Codec.Encode(e)
		if err != nil {
			return nil, l, fmt.Errorf("commands: encode event %d: %w", i, err)
		}
		var metadata []byte
		if agg.Chained {
			metadata, prev, err = envelope.Seal(md, prev, typ, data)
		} else {
			metadata, err = envelope.Marshal(md)
		}
		if err != nil {
			return nil, l, err
		}
		out[i] = eventstore.EventData{ID: envelope.EventID(meta.CommandID, i), Type: typ, Data: data, Metadata: metadata}
		state = agg.Evolve(state, e)
	}
	next := l
	next.State = state
	if agg.Chained {
		next.Head = prev
	}
	return out, next, nil
}
