package projections

import (
	"bytes"

	"github.com/ticketledger/ticketledger/eventstore"
)

// nulEscape is how JSON writes the NUL character (U+0000), which PostgreSQL's text and
// jsonb columns refuse.
var nulEscape = []byte(`\u0000`)

// storable makes ev's text storable in the read models: every NUL in its JSON data and
// metadata becomes U+FFFD. The API refuses such text, but a log written before it did, or
// by another writer, may hold some; copied as it is, one event would stop a projection for
// good, as it cannot leave the log. The log keeps the text as written, for the audit.
func storable(ev *eventstore.RecordedEvent) {
	ev.Data = storableJSON(ev.Data)
	ev.Metadata = storableJSON(ev.Metadata)
}

// storableJSON returns b, or a copy of it with each escaped NUL replaced by an escaped
// U+FFFD (of the same length). A backslash in JSON is only ever in a string, where it
// escapes the character after it, so `\\u0000` is text, and kept.
func storableJSON(b []byte) []byte {
	if !bytes.Contains(b, nulEscape) {
		return b
	}
	out := bytes.Clone(b)
	for i := 0; i < len(out); i++ {
		if out[i] != '\\' {
			continue
		}
		if bytes.HasPrefix(out[i+1:], nulEscape[1:]) {
			copy(out[i+1:], "ufffd")
			i += len(nulEscape) - 1
			continue
		}
		i++
	}
	return out
}
