package envelope

import (
	"errors"
	"fmt"
)

// Link is one stored event as the chain sees it.
type Link struct {
	// Version is the event's 1-based number in its stream.
	Version  uint64
	Type     string
	Data     []byte
	Metadata []byte
}

// BreakError reports where a stream's chain fails to verify.
type BreakError struct {
	// Version is the first event whose hash or link does not hold.
	Version uint64
	Reason  string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("envelope: hash chain broken at version %d: %s", e.Version, e.Reason)
}

// Verifier checks a stream's chain one event at a time, in version order. The zero
// Verifier expects a stream's first event. It is not safe for concurrent use.
type Verifier struct {
	head    Hash
	version uint64
}

// Head returns the hash of the last event verified (Genesis before any).
func (v *Verifier) Head() Hash { return v.head }

// Next verifies the next event of the stream and returns its decoded metadata. It returns
// a *BreakError when the event is out of sequence, not chained, altered, or does not link
// to the previous event's hash.
func (v *Verifier) Next(l Link) (Sealed, error) {
	if l.Version != v.version+1 {
		return Sealed{}, &BreakError{Version: l.Version, Reason: fmt.Sprintf("expected version %d", v.version+1)}
	}
	s, err := Open(l.Type, l.Data, l.Metadata)
	if errors.Is(err, ErrNotChained) {
		return s, &BreakError{Version: l.Version, Reason: "the event carries no chain hash"}
	}
	if err != nil {
		return s, &BreakError{Version: l.Version, Reason: err.Error()}
	}
	if s.Prev != v.head {
		return s, &BreakError{Version: l.Version, Reason: fmt.Sprintf("links to %s, the previous event's hash is %s", s.Prev, v.head)}
	}
	v.head, v.version = s.Hash, l.Version
	return s, nil
}

// Verify checks a whole stream, given in version order from its first event, and
// returns the chain's head hash.
func Verify(links []Link) (Hash, error) {
	var v Verifier
	for _, l := range links {
		if _, err := v.Next(l); err != nil {
			return v.head, err
		}
	}
	return v.head, nil
}
