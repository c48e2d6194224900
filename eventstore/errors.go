package eventstore

import (
	"errors"
	"fmt"
)

// Errors that callers can test for with errors.Is. Adapters wrap them with detail.
var (
	// ErrWrongExpectedVersion: the stream was not at the version the append expected.
	// The error is a *WrongVersionError carrying the actual version.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound: the stream holds no event.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrStreamDeleted: the stream was tombstoned; it can never be read or written again.
	ErrStreamDeleted = errors.New("eventstore: stream deleted")
	// ErrEventTooLarge: the append exceeds MaxAppendSize; nothing was written.
	ErrEventTooLarge = errors.New("eventstore: append too large")
	// ErrUnavailable: the store could not be reached or failed; the call may be retried.
	ErrUnavailable = errors.New("eventstore: store unavailable")
	// ErrInvalid: the call's arguments are malformed (empty stream name, empty event type,
	// non-JSON data where JSON is required, a negative count...).
	ErrInvalid = errors.New("eventstore: invalid argument")
)

// MaxAppendSize is the largest append every store accepts, EventStoreDB's default of 1 MiB
// per request, counted as EventStoreDB counts it: the data and metadata bytes of every
// event plus twice the UTF-16 length of its type (see CheckAppend).
const MaxAppendSize = 1 << 20

// WrongVersionError reports an append or delete whose expected version did not hold.
// errors.Is(err, ErrWrongExpectedVersion) is true for it.
type WrongVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's version when the call was refused: 0 when the stream does
	// not exist. ActualKnown is false when the store could not tell (EventStoreDB does
	// not report it on deletes).
	Actual      uint64
	ActualKnown bool
}

func (e *WrongVersionError) Error() string {
	if !e.ActualKnown {
		return fmt.Sprintf("eventstore: stream %q: wrong expected version: expected %s", e.Stream, e.Expected)
	}
	return fmt.Sprintf("eventstore: stream %q: wrong expected version: expected %s, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) hold.
func (e *WrongVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }
