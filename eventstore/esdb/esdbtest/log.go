package esdbtest

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// MaxAppendSize is the largest append the double accepts, counted as an EventStoreDB node
// counts it: data plus custom metadata plus twice the UTF-16 length of the event type,
// summed over the append's events.
const MaxAppendSize = 1 << 20

// tombstoneRevision is the revision of the '$streamDeleted' event a tombstone writes.
const tombstoneRevision = math.MaxInt64

// System event types the double writes into $all.
const (
	typeMetadata      = "$metadata"
	typeStreamDeleted = "$streamDeleted"
)

// record is one event of the log. Records are never modified once appended.
type record struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	eventType   string
	contentType string
	data        []byte
	metadata    []byte
	created     int64
	position    uint64
}

// proposed is an event received in an append.
type proposed struct {
	id          uuid.UUID
	eventType   string
	contentType string
	data        []byte
	metadata    []byte
}

// stream is the state of one stream. records[i] has revision i; the tombstone is not in it.
type stream struct {
	records []*record
	// truncateBefore hides the records before it (set by a soft delete).
	truncateBefore uint64
	softDeleted    bool
	tombstoned     bool
}

// current is the revision the expected revision of a write is checked against: the last
// revision, or -1 when the stream holds no visible event.
func (s *stream) current() int64 {
	if s == nil || s.softDeleted || uint64(len(s.records)) <= s.truncateBefore {
		return -1
	}
	return int64(len(s.records)) - 1
}

// visible returns the records a read sees.
func (s *stream) visible() []*record {
	if s == nil || s.softDeleted || uint64(len(s.records)) <= s.truncateBefore {
		return nil
	}
	return s.records[s.truncateBefore:]
}

// expectKind is the kind of an expected revision.
type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectRevision
)

// expectation is the expected revision of a write or delete.
type expectation struct {
	kind     expectKind
	revision uint64
}

// wire is the number EventStoreDB uses for the expectation in messages and trailers.
func (e expectation) wire() int64 {
	switch e.kind {
	case expectNoStream:
		return -1
	case expectStreamExists:
		return -4
	case expectRevision:
		return int64(e.revision)
	}
	return -2
}

// errStreamDeleted reports a write to, or read of, a tombstoned stream.
type errStreamDeleted struct{ stream string }

func (e *errStreamDeleted) Error() string {
	return fmt.Sprintf("Event stream '%s' is deleted.", e.stream)
}

// errWrongVersion reports an expected revision that did not hold.
type errWrongVersion struct {
	stream   string
	expected expectation
	// current is the stream's revision, -1 when it holds no event.
	current int64
}

func (e *errWrongVersion) Error() string {
	return fmt.Sprintf("WrongExpectedVersion. Stream: %s, Expected version: %d, Actual version: %d", e.stream, e.expected.wire(), e.current)
}

// database is the double's in-memory log. All fields are guarded by mu.
type database struct {
	mu      sync.Mutex
	log     []*record
	streams map[string]*stream
	next    uint64
	// changed is closed, and replaced, whenever the log grows.
	changed chan struct{}
}

func newDatabase() *database {
	d := &database{
		streams: make(map[string]*stream),
		next:    1 << 10,
		changed: make(chan struct{}),
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writeLocked("$esdbtest-seed", proposed{
		id:          uuid.New(),
		eventType:   "Seeded",
		contentType: "application/json",
		data:        []byte(`{"note":"a system event: its stream starts with '$'"}`),
	})
	d.writeLocked("$settings", proposed{
		id:          uuid.New(),
		eventType:   "$settings",
		contentType: "application/json",
		data:        []byte(`{"$userStreamAcl":{},"$systemStreamAcl":{}}`),
	})
	d.notifyLocked()
	return d
}

// appendSize is how much an event counts towards MaxAppendSize.
func appendSize(eventType string, data, metadata []byte) int {
	return len(data) + len(metadata) + 2*len(utf16.Encode([]rune(eventType)))
}

// writeLocked appends one event to a stream and to the log, at the stream's next revision
// (or at tombstoneRevision for a tombstone).
func (d *database) writeLocked(name string, p proposed) *record {
	st := d.streams[name]
	if st == nil {
		st = &stream{}
		d.streams[name] = st
	}
	rev := uint64(len(st.records))
	if p.eventType == typeStreamDeleted {
		rev = tombstoneRevision
	}
	r := &record{
		id:          p.id,
		stream:      name,
		revision:    rev,
		eventType:   p.eventType,
		contentType: p.contentType,
		data:        p.data,
		metadata:    p.metadata,
		created:     time.Now().UnixNano() / 100,
		position:    d.next,
	}
	d.next += 64 + uint64(len(name)+len(p.eventType)+len(p.data)+len(p.metadata))
	d.log = append(d.log, r)
	if rev != tombstoneRevision {
		st.records = append(st.records, r)
	}
	return r
}

func (d *database) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// appendEvents checks expected and writes events to name. It returns the records written,
// or, for an idempotent retry, the records that were written by the original append.
func (d *database) appendEvents(name string, expected expectation, events []proposed) ([]*record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.streams[name]
	if st != nil && st.tombstoned {
		return nil, &errStreamDeleted{stream: name}
	}
	cur := st.current()
	wrong := &errWrongVersion{stream: name, expected: expected, current: cur}
	switch expected.kind {
	case expectAny, expectStreamExists:
		if expected.kind == expectStreamExists && cur < 0 {
			if st != nil && st.softDeleted {
				return nil, &errStreamDeleted{stream: name}
			}
			return nil, wrong
		}
		if len(events) > 0 {
			vis := st.visible()
			for i, r := range vis {
				if r.id == events[0].id {
					if matched, ok := matchIDs(vis[i:], events); ok {
						return matched, nil
					}
					return nil, wrong
				}
			}
		}
	case expectNoStream, expectRevision:
		want := expected.wire()
		switch {
		case want > cur:
			return nil, wrong
		case want < cur:
			if len(events) == 0 {
				return nil, wrong
			}
			if matched, ok := matchIDs(st.records[want+1:], events); ok {
				return matched, nil
			}
			return nil, wrong
		}
	}
	if len(events) == 0 {
		return nil, nil
	}
	if st != nil && st.softDeleted {
		tb := len(st.records)
		d.writeLocked("$$"+name, proposed{
			id:          uuid.New(),
			eventType:   typeMetadata,
			contentType: "application/json",
			data:        []byte(`{"$tb":` + strconv.Itoa(tb) + `}`),
		})
		st.softDeleted = false
		st.truncateBefore = uint64(tb)
	}
	written := make([]*record, len(events))
	for i, p := range events {
		written[i] = d.writeLocked(name, p)
	}
	d.notifyLocked()
	return written, nil
}

// matchIDs reports whether the ids of events are those of the first records, in order.
func matchIDs(records []*record, events []proposed) ([]*record, bool) {
	if len(records) < len(events) {
		return nil, false
	}
	for i, p := range events {
		if records[i].id != p.id {
			return nil, false
		}
	}
	return records[:len(events)], true
}

// deleteStream soft-deletes (hard: tombstones) name if expected holds, and returns the
// position of the system event written.
func (d *database) deleteStream(name string, expected expectation, hard bool) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.streams[name]
	if st != nil && st.tombstoned {
		return 0, &errStreamDeleted{stream: name}
	}
	cur := st.current()
	if !holds(expected, cur) {
		return 0, &errWrongVersion{stream: name, expected: expected, current: cur}
	}
	var r *record
	if hard {
		r = d.writeLocked(name, proposed{id: uuid.New(), eventType: typeStreamDeleted, contentType: "application/octet-stream"})
		d.streams[name].tombstoned = true
	} else {
		r = d.writeLocked("$$"+name, proposed{
			id:          uuid.New(),
			eventType:   typeMetadata,
			contentType: "application/json",
			data:        []byte(`{"$tb":` + strconv.FormatInt(tombstoneRevision, 10) + `}`),
		})
		if st == nil {
			st = &stream{}
			d.streams[name] = st
		}
		st.softDeleted = true
		st.truncateBefore = uint64(len(st.records))
	}
	d.notifyLocked()
	return r.position, nil
}

func holds(e expectation, cur int64) bool {
	switch e.kind {
	case expectNoStream:
		return cur == -1
	case expectStreamExists:
		return cur >= 0
	case expectRevision:
		return cur == int64(e.revision)
	}
	return true
}

// streamSnapshot returns the visible records of name, whether the stream is tombstoned,
// and the channel closed on the next change of the log.
func (d *database) streamSnapshot(name string) ([]*record, bool, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.streams[name]
	return st.visible(), st != nil && st.tombstoned, d.changed
}

// logSnapshot returns the log and the channel closed on its next change.
func (d *database) logSnapshot() ([]*record, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log[:len(d.log):len(d.log)], d.changed
}

// firstAtOrAfter returns the index of the first record of log at or after position p.
func firstAtOrAfter(log []*record, p uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].position >= p })
}

// firstAfter returns the index of the first record of log after position p.
func firstAfter(log []*record, p uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].position > p })
}
