package eventstore

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in the global log. It is opaque to callers: compare positions with
// Compare, store them with String or MarshalText and read them back with ParsePosition.
// The zero Position is the start of the log, before every event.
//
// Adapters build positions from two unsigned integers with MakePosition; the pair is
// ordered lexicographically (major first), which is the order in which the log is read.
type Position struct {
	major, minor uint64
}

// Start is the position before the first event of the log.
var Start = Position{}

// MakePosition returns the position made of the two ordered components an adapter uses
// (for EventStoreDB the commit and prepare positions; for PostgreSQL the transaction id
// and the row's sequence number).
func MakePosition(major, minor uint64) Position {
	return Position{major: major, minor: minor}
}

// Parts returns the two components given to MakePosition.
func (p Position) Parts() (major, minor uint64) {
	return p.major, p.minor
}

// IsZero reports whether p is Start.
func (p Position) IsZero() bool {
	return p == Position{}
}

// Compare returns -1 if p is before q in the log, +1 if after, and 0 if they are equal.
func (p Position) Compare(q Position) int {
	switch {
	case p.major < q.major:
		return -1
	case p.major > q.major:
		return 1
	case p.minor < q.minor:
		return -1
	case p.minor > q.minor:
		return 1
	}
	return 0
}

// Before reports whether p comes before q in the log.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// After reports whether p comes after q in the log.
func (p Position) After(q Position) bool { return p.Compare(q) > 0 }

// String returns the text form "major/minor", which ParsePosition reads back.
func (p Position) String() string {
	return strconv.FormatUint(p.major, 10) + "/" + strconv.FormatUint(p.minor, 10)
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (p Position) MarshalText() ([]byte, error) {
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what MarshalText returns.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParsePosition reads a position from its String form. The empty string is Start.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Start, nil
	}
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return Position{}, fmt.Errorf("eventstore: position %q: want two numbers separated by '/'", s)
	}
	major, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: position %q: %w", s, err)
	}
	minor, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: position %q: %w", s, err)
	}
	return Position{major: major, minor: minor}, nil
}
