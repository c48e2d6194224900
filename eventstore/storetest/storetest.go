package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Opener returns a store ready for use. It registers the store's Close with tb.Cleanup.
// Each call may return a new store or the same long-lived one.
type Opener func(tb testing.TB) eventstore.Store

// waitLimit bounds every wait for a subscription message.
const waitLimit = 30 * time.Second

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store)
	}{
		{"AppendExpectedVersions", testAppendExpectedVersions},
		{"AppendInvalid", testAppendInvalid},
		{"AppendTooLarge", testAppendTooLarge},
		{"IdempotentReappend", testIdempotentReappend},
		{"RacingWriters", testRacingWriters},
		{"ReadStream", testReadStream},
		{"ReadStreams", testReadStreams},
		{"ReadAll", testReadAll},
		{"Tombstone", testTombstone},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeTypeFilter", testSubscribeTypeFilter},
		{"SubscribeFromMiddle", testSubscribeFromMiddle},
		{"SubscribeCheckpointsAndResume", testSubscribeCheckpointsAndResume},
		{"Cancellation", testCancellation},
		{"Stress", testStress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "Stress" {
				t.Parallel()
			}
			tc.fn(t, open(t))
		})
	}
}

// namespace returns a random stream-name prefix unique to one test.
func namespace(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return "st" + hex.EncodeToString(b[:])
}

// payload is the body of every event the suite writes.
type payload struct {
	Stream string `json:"stream"`
	N      int    `json:"n"`
	Pad    string `json:"pad,omitempty"`
}

// newEvent returns an event with a fresh id whose data names the stream and n.
func newEvent(typ, stream string, n int) eventstore.EventData {
	data, _ := json.Marshal(payload{Stream: stream, N: n})
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     data,
		Metadata: []byte(`{"actor":"storetest"}`),
	}
}

// newEvents returns n events numbered from first.
func newEvents(typ, stream string, first, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = newEvent(typ, stream, first+i)
	}
	return out
}

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// mustAppend appends and fails the test on error.
func mustAppend(tb testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) eventstore.AppendResult {
	tb.Helper()
	res, err := s.Append(ctxFor(tb), stream, expected, events...)
	if err != nil {
		tb.Fatalf("append %d events to %s at %s: %v", len(events), stream, expected, err)
	}
	return res
}

// head returns the position of the newest event in the log, or Start.
func head(tb testing.TB, s eventstore.Store) eventstore.Position {
	tb.Helper()
	evs, err := s.ReadAll(ctxFor(tb), eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		tb.Fatalf("read the head of the log: %v", err)
	}
	if len(evs) == 0 {
		return eventstore.Start
	}
	return evs[0].Position
}

// wrongVersion asserts err is a *WrongVersionError and returns it.
func wrongVersion(tb testing.TB, err error) *eventstore.WrongVersionError {
	tb.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		tb.Fatalf("got error %v, want wrong expected version", err)
	}
	var wv *eventstore.WrongVersionError
	if !errors.As(err, &wv) {
		tb.Fatalf("error %v is not a *eventstore.WrongVersionError", err)
	}
	return wv
}

func checkActual(tb testing.TB, err error, want uint64) {
	tb.Helper()
	wv := wrongVersion(tb, err)
	if !wv.ActualKnown || wv.Actual != want {
		tb.Fatalf("wrong version error %v: actual %d (known %v), want %d", err, wv.Actual, wv.ActualKnown, want)
	}
}

// readStream reads the whole stream forwards.
func readStream(tb testing.TB, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	tb.Helper()
	evs, err := s.ReadStream(ctxFor(tb), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		tb.Fatalf("read stream %s: %v", stream, err)
	}
	return evs
}

func versions(evs []eventstore.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Version
	}
	return out
}

func equalVersions(got []uint64, want ...uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// receiver reads a subscription with bounded waits.
type receiver struct {
	tb  testing.TB
	sub eventstore.Subscription
	// last is the highest position of any message received.
	last eventstore.Position
}

func subscribe(tb testing.TB, s eventstore.Store, from eventstore.Position, f eventstore.Filter) *receiver {
	tb.Helper()
	sub, err := s.Subscribe(ctxFor(tb), from, f)
	if err != nil {
		tb.Fatalf("subscribe from %s: %v", from, err)
	}
	tb.Cleanup(func() { sub.Close() })
	return &receiver{tb: tb, sub: sub}
}

// next returns the next message, failing the test after waitLimit or if the subscription ends.
func (r *receiver) next() eventstore.Message {
	r.tb.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case m, ok := <-r.sub.Messages():
		if !ok {
			r.tb.Fatalf("subscription ended: %v", r.sub.Err())
		}
		if m.Position.Before(r.last) {
			r.tb.Fatalf("message %v at %s after a message at %s: positions went backwards", m.Kind, m.Position, r.last)
		}
		r.last = m.Position
		return m
	case <-timer.C:
		r.tb.Fatalf("no subscription message within %s", waitLimit)
	}
	return eventstore.Message{}
}

// events collects n events, skipping checkpoints and the caught-up mark.
func (r *receiver) events(n int) []eventstore.RecordedEvent {
	r.tb.Helper()
	var out []eventstore.RecordedEvent
	for len(out) < n {
		m := r.next()
		if m.Kind == eventstore.EventMessage {
			if m.Event == nil || m.Event.Position != m.Position {
				r.tb.Fatalf("event message without its event or with a different position: %+v", m)
			}
			out = append(out, *m.Event)
		}
	}
	return out
}

// untilCaughtUp collects events until the caught-up mark.
func (r *receiver) untilCaughtUp() []eventstore.RecordedEvent {
	r.tb.Helper()
	var out []eventstore.RecordedEvent
	for {
		m := r.next()
		switch m.Kind {
		case eventstore.EventMessage:
			out = append(out, *m.Event)
		case eventstore.CaughtUpMessage:
			return out
		}
	}
}

// noEventWithin fails if an event arrives within d.
func (r *receiver) noEventWithin(d time.Duration) {
	r.tb.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-r.sub.Messages():
			if !ok {
				r.tb.Fatalf("subscription ended: %v", r.sub.Err())
			}
			if m.Kind == eventstore.EventMessage {
				r.tb.Fatalf("unexpected event %s v%d (%s)", m.Event.Stream, m.Event.Version, m.Event.Type)
			}
		case <-timer.C:
			return
		}
	}
}

func describe(evs []eventstore.RecordedEvent) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = fmt.Sprintf("%s@%d", e.Stream, e.Version)
	}
	return strings.Join(parts, " ")
}
