package eventstore

import (
	"context"
	"strings"
)

// Store is an event store. Implementations are safe for concurrent use; every method
// honours ctx cancellation, returning an error that wraps ctx.Err().
type Store interface {
	// Append writes events to the end of stream, atomically, if the stream's version
	// satisfies expected. It returns the stream's new version and the log position of the
	// last event.
	//
	// Appending events whose IDs are exactly those already stored right after the expected
	// version succeeds without writing anything and returns the original result
	// (idempotent retry); a partial match is a wrong expected version.
	//
	// Errors: a *WrongVersionError (ErrWrongExpectedVersion), ErrStreamDeleted,
	// ErrEventTooLarge, ErrInvalid (see CheckAppend), ErrUnavailable.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream returns up to opts.Count events of stream in the given direction.
	// Errors: ErrStreamNotFound if the stream holds no event, ErrStreamDeleted,
	// ErrInvalid, ErrUnavailable. Reading past the end returns no events and no error.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)

	// ReadAll returns up to opts.Count events of the global log in the given direction,
	// system events excluded. Errors: ErrInvalid, ErrUnavailable.
	ReadAll(ctx context.Context, opts ReadAllOptions) ([]RecordedEvent, error)

	// Subscribe follows the global log from just after from (Start: from the beginning),
	// delivering the events that pass filter in log order: first those already stored
	// (catch-up), then a CaughtUp message, then new events as they are committed (live).
	// Checkpoint messages report progress through long stretches of filtered-out events.
	// The subscription ends when ctx is done, when Close is called, or on a failure. The
	// Data and Metadata of the events delivered may be shared with the other subscriptions
	// of the store: read them, never modify them.
	Subscribe(ctx context.Context, from Position, filter Filter) (Subscription, error)

	// Tombstone deletes stream for good if its version satisfies expected: it can never be
	// read or appended to again (ErrStreamDeleted); its events stay in the global log.
	// Errors: *WrongVersionError, ErrStreamNotFound (the stream never existed and expected
	// is not Any or NoStream), ErrStreamDeleted, ErrUnavailable.
	Tombstone(ctx context.Context, stream string, expected ExpectedVersion) error

	// Close releases the store's resources. Subscriptions must be closed before.
	Close() error
}

// Direction is the order of a read.
type Direction uint8

const (
	// Forwards reads from older to newer events.
	Forwards Direction = iota
	// Backwards reads from newer to older events.
	Backwards
)

// ReadStreamOptions selects the events of a stream read.
type ReadStreamOptions struct {
	Direction Direction
	// From is the version of the first event returned, inclusive. 0 means the start of the
	// stream when reading forwards and its end when reading backwards.
	From uint64
	// Count is the largest number of events returned; 0 means all.
	Count int
}

// ReadAllOptions selects the events of a global log read.
type ReadAllOptions struct {
	Direction Direction
	// From is exclusive: forwards, events after From; backwards, events before From.
	// Start means the beginning when reading forwards and the end when reading backwards.
	From Position
	// Count is the largest number of events returned; it must be positive.
	Count int
}

// Filter selects events of the global log. An event passes if its stream starts with one
// of StreamPrefixes (or StreamPrefixes is empty) and its type starts with one of
// TypePrefixes (or TypePrefixes is empty). System events (stream or type starting with
// '$') never pass.
type Filter struct {
	StreamPrefixes []string
	TypePrefixes   []string
}

// Match reports whether an event of the given stream and type passes f.
func (f Filter) Match(stream, eventType string) bool {
	if strings.HasPrefix(stream, "$") || strings.HasPrefix(eventType, "$") {
		return false
	}
	return hasAnyPrefix(stream, f.StreamPrefixes) && hasAnyPrefix(eventType, f.TypePrefixes)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// MessageKind tells what a subscription Message carries.
type MessageKind uint8

const (
	// EventMessage carries an event that passed the filter.
	EventMessage MessageKind = iota + 1
	// CheckpointMessage reports that the log has been scanned up to Position: resuming
	// from it loses no event that passes the filter.
	CheckpointMessage
	// CaughtUpMessage reports the end of catch-up: the events stored when the subscription
	// started have been delivered; what follows is live. Position is the last position
	// scanned (Start in an empty log).
	CaughtUpMessage
)

// Message is one item of a subscription.
type Message struct {
	Kind MessageKind
	// Event is set for EventMessage.
	Event *RecordedEvent
	// Position is the event's position, or the position a checkpoint or catch-up reports.
	// Resuming a subscription from it never loses nor repeats a matching event.
	Position Position
}

// Subscription is a live follow of the global log opened by Store.Subscribe.
type Subscription interface {
	// Messages delivers the subscription's messages in log order. It is closed when the
	// subscription ends; Err then says why.
	Messages() <-chan Message
	// Err returns nil while the subscription runs or after Close, the context's error if
	// its context ended it, or the failure that ended it (wrapping ErrUnavailable when the
	// store was lost).
	Err() error
	// Close ends the subscription and waits until Messages is closed. It is safe to call
	// more than once and concurrently with receiving.
	Close() error
}
