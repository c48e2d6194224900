package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StreamPrefix starts the name of every process stream.
const StreamPrefix = "process-"

// StreamName returns the name of the stream holding the published versions of the process
// with the given key: "process-<key>".
func StreamName(key string) string { return StreamPrefix + key }

// The stable type names of the process events.
const (
	EventPublished = "process.published"
	EventRetired   = "process.retired"
)

// EventSchema is the schema version of the event payloads defined here. Payloads only
// ever gain fields; a change that readers must know about raises it.
const EventSchema = 1

// ErrUnknownEvent is returned by DecodeEvent for a type name outside the process events.
var ErrUnknownEvent = errors.New("unknown process event type")

// Event is one of the process events: Published or Retired. The set is closed.
type Event interface {
	// EventType returns the event's stable type name.
	EventType() string
	isEvent()
}

// Published records that a definition was published as a new version. Tickets submitted
// afterwards run under it; running tickets keep the version they were submitted under.
type Published struct {
	Key string `json:"key"`
	// Version is the assigned version: the previous one plus one, starting at 1.
	Version int `json:"version"`
	// Digest is the hex SHA-256 of Document.
	Digest string `json:"digest"`
	// Document is the canonical JSON document of the definition (Definition.Document).
	Document json.RawMessage `json:"document"`
	// Source is the text as the publisher wrote it, comments included, for people.
	Source      string    `json:"source,omitempty"`
	PublishedAt time.Time `json:"published_at"`
}

// Retired records that a process stopped taking new tickets. Running tickets go on;
// publishing again brings the process back.
type Retired struct {
	Key string `json:"key"`
	// Version is the version that was current when the process was retired.
	Version   int       `json:"version"`
	Reason    string    `json:"reason,omitempty"`
	RetiredAt time.Time `json:"retired_at"`
}

// EventType returns EventPublished.
func (Published) EventType() string { return EventPublished }

// EventType returns EventRetired.
func (Retired) EventType() string { return EventRetired }

func (Published) isEvent() {}
func (Retired) isEvent()   {}

// Definition parses the published document. It fails only if the document was not
// produced by this package.
func (e Published) Definition() (*Definition, error) { return Parse(e.Document) }

// EncodeEvent returns an event's type name and JSON payload.
func EncodeEvent(e Event) (eventType string, data []byte, err error) {
	switch e.(type) {
	case Published, Retired:
	default:
		return "", nil, fmt.Errorf("%w: %T", ErrUnknownEvent, e)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return e.EventType(), data, nil
}

// DecodeEvent turns a stored type name and JSON payload back into an event. It returns an
// error wrapping ErrUnknownEvent for another type name, or the JSON error for a payload
// that does not decode.
func DecodeEvent(eventType string, data []byte) (Event, error) {
	switch eventType {
	case EventPublished:
		var e Published
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("decode %s: %w", eventType, err)
		}
		return e, nil
	case EventRetired:
		var e Retired
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("decode %s: %w", eventType, err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, eventType)
}
