package eventstore

import "strconv"

// ExpectedVersion is the condition an append or delete places on a stream's version.
// Build one with Any, NoStream, StreamExists or Exact.
type ExpectedVersion struct {
	kind    expectKind
	version uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any accepts the stream whatever its version, existing or not.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream requires that the stream holds no event yet.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists requires that the stream holds at least one event.
	StreamExists = ExpectedVersion{kind: expectStreamExists}
)

// Exact requires the stream to be at version v, that is to hold exactly v events.
// Exact(0) is NoStream.
func Exact(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e is NoStream (or Exact(0)).
func (e ExpectedVersion) IsNoStream() bool { return e.kind == expectNoStream }

// IsStreamExists reports whether e is StreamExists.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// ExactVersion returns the version given to Exact and true, or 0 and false for the other kinds.
func (e ExpectedVersion) ExactVersion() (uint64, bool) {
	return e.version, e.kind == expectExact
}

// Holds reports whether a stream at version actual (0: no stream) satisfies e.
func (e ExpectedVersion) Holds(actual uint64) bool {
	switch e.kind {
	case expectNoStream:
		return actual == 0
	case expectStreamExists:
		return actual > 0
	case expectExact:
		return actual == e.version
	}
	return true
}

func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return strconv.FormatUint(e.version, 10)
	}
	return "any"
}
