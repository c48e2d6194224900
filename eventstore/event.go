package eventstore

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// EventData is an event proposed for appending.
type EventData struct {
	// ID identifies the event. Appending the same IDs again at the same expected version is
	// idempotent, so callers that may retry derive IDs deterministically. A zero ID is
	// replaced by a random one.
	ID uuid.UUID
	// Type is the stable type name, e.g. "ticket.submitted". Required; it must not start
	// with '$', which marks system events.
	Type string
	// Data is the JSON body of the event. Required (at least "{}").
	Data []byte
	// Metadata is optional JSON metadata (actor, correlation, ...).
	Metadata []byte
}

// size is what the event counts towards MaxAppendSize: its data and metadata bytes and
// twice the number of UTF-16 code units of its type, as EventStoreDB counts it, so that an append within
// the limit is accepted by every store.
func (e EventData) size() int {
	return len(e.Data) + len(e.Metadata) + 2*len(utf16.Encode([]rune(e.Type)))
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID     uuid.UUID
	Stream string
	// Version is the event's 1-based number within its stream.
	Version  uint64
	Position Position
	Type     string
	Data     []byte
	Metadata []byte
	// Created is the time the store recorded the event, in UTC.
	Created time.Time
}

// AppendResult is what a successful append returns.
type AppendResult struct {
	// Version is the stream's version after the append: the Version of its last event.
	Version uint64
	// Position is the log position of the last event appended.
	Position Position
	// Duplicate reports an idempotent retry: the stream already held these events (the
	// same ids, right after the expected version), written by an earlier append, and
	// nothing was written; Version and Position are the earlier append's. A store that
	// cannot tell (EventStoreDB answers a retry as it answers a write) reports false.
	Duplicate bool
}

// CheckAppend validates an append's arguments as every store does before writing: a
// non-empty stream name not starting with '$', at least one event, non-empty types not
// starting with '$', non-empty data, and a total size within MaxAppendSize. It returns an
// error wrapping ErrInvalid or ErrEventTooLarge, and fills in zero event IDs.
func CheckAppend(stream string, events []EventData) error {
	if err := CheckStreamName(stream); err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: append to %q: no events", ErrInvalid, stream)
	}
	total := 0
	for i := range events {
		e := &events[i]
		if e.Type == "" || strings.HasPrefix(e.Type, "$") {
			return fmt.Errorf("%w: append to %q: event %d: type %q is empty or reserved", ErrInvalid, stream, i, e.Type)
		}
		if len(e.Data) == 0 {
			return fmt.Errorf("%w: append to %q: event %d (%s): empty data", ErrInvalid, stream, i, e.Type)
		}
		if e.ID == uuid.Nil {
			e.ID = uuid.New()
		}
		total += e.size()
	}
	if total > MaxAppendSize {
		return fmt.Errorf("%w: append to %q: %d bytes exceeds the %d-byte limit", ErrEventTooLarge, stream, total, MaxAppendSize)
	}
	return nil
}

// CheckStreamName returns an error wrapping ErrInvalid unless name is a non-empty stream
// name that does not start with '$' (system streams) and holds no control characters.
func CheckStreamName(name string) error {
	if name == "" || strings.HasPrefix(name, "$") {
		return fmt.Errorf("%w: stream name %q is empty or reserved", ErrInvalid, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: stream name %q holds a control character", ErrInvalid, name)
		}
	}
	return nil
}
