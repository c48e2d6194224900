package process

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNotPublished is returned when a command needs a process that has no published
// version.
var ErrNotPublished = errors.New("process not published")

// State is a process stream folded by Evolve. The zero value is a stream with no events.
type State struct {
	Key string
	// Version is the latest published version; 0 when none.
	Version int
	// Digest is the latest version's document digest.
	Digest string
	// Retired reports whether the process stopped taking new tickets.
	Retired bool
	// Versions are every published version, oldest first; Versions[v-1] is version v.
	Versions []Published
}

// Latest returns the latest published version.
func (s State) Latest() (Published, bool) { return s.Published(s.Version) }

// Published returns the given published version.
func (s State) Published(version int) (Published, bool) {
	if version < 1 || version > len(s.Versions) {
		return Published{}, false
	}
	return s.Versions[version-1], true
}

// Command is a request to change a process stream: Publish or Retire.
type Command interface{ isCommand() }

// Publish asks to publish Source, a definition in YAML or JSON, as the next version of the
// process Key.
type Publish struct {
	Key    string
	Source []byte
	At     time.Time
}

// Retire asks to stop taking new tickets for the process Key.
type Retire struct {
	Key    string
	Reason string
	At     time.Time
}

func (Publish) isCommand() {}
func (Retire) isCommand()  {}

// Decide returns the events a command produces on a process stream in state s. It is pure.
//
// Publish parses and validates Source (a Problems error, matching ErrInvalid, when it is
// not a valid definition or its key is not Key) and emits Published with version
// s.Version+1; publishing a document identical to the latest version of a process that is
// not retired emits nothing. Retire emits Retired, or nothing when the process is already
// retired, and returns ErrNotPublished when nothing was ever published. A command without
// a time, or for a stream of another key, is invalid.
func Decide(s State, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Publish:
		if err := checkCommand(s, c.Key, c.At); err != nil {
			return nil, err
		}
		def, err := Parse(c.Source)
		if err != nil {
			return nil, err
		}
		if def.Key() != c.Key {
			return nil, Problems{{Path: "key", Message: fmt.Sprintf("the document's key %q is not the process %q", def.Key(), c.Key)}}
		}
		if s.Version > 0 && !s.Retired && s.Digest == def.Digest() {
			return nil, nil
		}
		return []Event{Published{
			Key:         c.Key,
			Version:     s.Version + 1,
			Digest:      def.Digest(),
			Document:    def.Document(),
			Source:      string(c.Source),
			PublishedAt: c.At.UTC(),
		}}, nil
	case Retire:
		if err := checkCommand(s, c.Key, c.At); err != nil {
			return nil, err
		}
		switch {
		case s.Version == 0:
			return nil, fmt.Errorf("retire %q: %w", c.Key, ErrNotPublished)
		case s.Retired:
			return nil, nil
		}
		return []Event{Retired{Key: c.Key, Version: s.Version, Reason: strings.TrimSpace(c.Reason), RetiredAt: c.At.UTC()}}, nil
	default:
		return nil, fmt.Errorf("%w: unknown command %T", ErrInvalid, c)
	}
}

func checkCommand(s State, key string, at time.Time) error {
	switch {
	case at.IsZero():
		return Problems{{Path: "at", Message: "the command carries no time"}}
	case s.Key != "" && s.Key != key:
		return Problems{{Path: "key", Message: fmt.Sprintf("the stream holds process %q, not %q", s.Key, key)}}
	}
	return nil
}

// Evolve returns the state after event e. It is pure and never modifies s.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Published:
		s.Key = e.Key
		s.Version = e.Version
		s.Digest = e.Digest
		s.Retired = false
		s.Versions = append(slices.Clip(s.Versions), e)
	case Retired:
		s.Key = e.Key
		s.Retired = true
	}
	return s
}

// Fold returns the state of a stream holding events, in order.
func Fold(events []Event) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}
