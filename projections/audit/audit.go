// Package audit reads a ticket's history straight from the event log, not from read
// models: every event with its metadata and the verdict of the SHA-256 hash chain, and the
// ticket's state as of any instant or log position, folded with the domain's own
// ticket.Evolve. It is what an auditor trusts when a read model and the log disagree.
package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// Log answers audit questions from an event store. It is safe for concurrent use.
type Log struct {
	store eventstore.Store
}

// New returns a Log reading store.
func New(store eventstore.Store) *Log { return &Log{store: store} }

// Record is one stored event of a ticket.
type Record struct {
	Version  uint64
	Position eventstore.Position
	Type     string
	// Event is the decoded event; nil when its body could not be decoded (Err says why).
	Event ticket.Event
	// Data is the event's body exactly as stored.
	Data     []byte
	Metadata envelope.Metadata
	// Prev and Hash are the chain links the metadata claims.
	Prev, Hash envelope.Hash
	// Recorded is when the store recorded the event.
	Recorded time.Time
	// Verified is true when the event's hash matches its content and links to the
	// previous event's, and every earlier event verified.
	Verified bool
	Err      error
}

// History is a whole stream (a ticket's, or a principal's).
type History struct {
	// TicketID is set for a ticket's history.
	TicketID string
	Records  []Record
	// Intact is true when the whole chain verified; otherwise Break says where and why it
	// failed (events from there on are not Verified).
	Intact bool
	Break  *envelope.BreakError
	// Head is the hash of the last verified event.
	Head envelope.Hash
}

// History returns every event of the ticket with id, in stream order, verifying the hash
// chain as it goes: a tampered history is returned, not refused, with the break
// reported. Errors: a domain.NotFound *domain.Error when the ticket has no stream;
// errors of the store.
func (l *Log) History(ctx context.Context, id string) (History, error) {
	evs, err := l.Events(ctx, id)
	if err != nil {
		return History{}, err
	}
	h, err := verify(evs, func(typ string, data []byte) (ticket.Event, error) { return ticket.Decode(typ, data) })
	if err != nil {
		return History{}, fmt.Errorf("audit: ticket %s: %w", id, err)
	}
	h.TicketID = id
	return h, nil
}

// PrincipalHistory returns every event of the principal's stream — creation, roles and
// groups granted and revoked, tokens issued and revoked — verified as History verifies a
// ticket's: it answers who could approve what, and since when. Record.Event is nil; Data
// holds each event's body. Errors: a domain.NotFound *domain.Error when no such principal
// exists; errors of the store.
func (l *Log) PrincipalHistory(ctx context.Context, id string) (History, error) {
	evs, err := l.store.ReadStream(ctx, principal.Stream(id), eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
		return History{}, domain.Errorf(domain.NotFound, "no-such-principal", "no principal %s", id)
	}
	if err != nil {
		return History{}, fmt.Errorf("audit: principal %s: %w", id, err)
	}
	h, err := verify(evs, func(string, []byte) (ticket.Event, error) { return nil, nil })
	if err != nil {
		return History{}, fmt.Errorf("audit: principal %s: %w", id, err)
	}
	return h, nil
}

// verify turns a stream's events into records, checking the chain as it goes.
func verify(evs []eventstore.RecordedEvent, decode func(string, []byte) (ticket.Event, error)) (History, error) {
	h := History{Records: make([]Record, len(evs)), Intact: true}
	var v envelope.Verifier
	for i, re := range evs {
		rec := Record{Version: re.Version, Position: re.Position, Type: re.Type, Data: re.Data, Recorded: re.Created}
		if h.Intact {
			sealed, err := v.Next(envelope.Link{Version: re.Version, Type: re.Type, Data: re.Data, Metadata: re.Metadata})
			var be *envelope.BreakError
			if errors.As(err, &be) {
				h.Intact, h.Break = false, be
			} else if err != nil {
				return History{}, err
			} else {
				rec.Verified = true
			}
			rec.Metadata, rec.Prev, rec.Hash = sealed.Metadata, sealed.Prev, sealed.Hash
		}
		if !rec.Verified {
			if s, err := envelope.Open(re.Type, re.Data, re.Metadata); err == nil || !errors.Is(err, envelope.ErrNotChained) {
				rec.Metadata, rec.Prev, rec.Hash = s.Metadata, s.Prev, s.Hash
			} else if md, err := envelope.Decode(re.Metadata); err == nil {
				rec.Metadata = md
			}
		}
		rec.Event, rec.Err = decode(re.Type, re.Data)
		h.Records[i] = rec
	}
	h.Head = v.Head()
	return h, nil
}

// Snapshot is a ticket's state as of a point of its history.
type Snapshot struct {
	State ticket.State
	// Version is the number of events folded (0: the ticket did not exist yet); Position
	// and At are the log position and domain time of the last of them.
	Version  uint64
	Position eventstore.Position
	At       time.Time
}

// StateAt returns the ticket's state as of instant at: the fold of the longest prefix of
// its stream whose events' command time (metadata time, else the store's record time) is
// at or before at. Errors as StateAtPosition's.
func (l *Log) StateAt(ctx context.Context, id string, at time.Time) (Snapshot, error) {
	return l.replay(ctx, id, func(re eventstore.RecordedEvent, md envelope.Metadata) bool {
		t := md.Time
		if t.IsZero() {
			t = re.Created
		}
		return !t.After(at)
	})
}

// StateAtPosition returns the ticket's state as of log position pos: the fold of its
// events at or before pos. Every event folded is verified first: errors: a
// domain.NotFound *domain.Error when the ticket has no stream; an error wrapping
// *envelope.BreakError when the chain breaks before the point asked for (no state is
// given from a tampered history); an event that cannot be decoded; errors of the store.
func (l *Log) StateAtPosition(ctx context.Context, id string, pos eventstore.Position) (Snapshot, error) {
	return l.replay(ctx, id, func(re eventstore.RecordedEvent, _ envelope.Metadata) bool {
		return !re.Position.After(pos)
	})
}

// replay folds the events of the stream while keep holds.
func (l *Log) replay(ctx context.Context, id string, keep func(eventstore.RecordedEvent, envelope.Metadata) bool) (Snapshot, error) {
	evs, err := l.Events(ctx, id)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{State: ticket.Initial()}
	var v envelope.Verifier
	for _, re := range evs {
		sealed, err := v.Next(envelope.Link{Version: re.Version, Type: re.Type, Data: re.Data, Metadata: re.Metadata})
		if !keep(re, sealed.Metadata) {
			break
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("audit: ticket %s: %w", id, err)
		}
		e, err := ticket.Decode(re.Type, re.Data)
		if err != nil {
			return Snapshot{}, fmt.Errorf("audit: ticket %s version %d: %w", id, re.Version, err)
		}
		snap.State = ticket.Evolve(snap.State, e)
		snap.Version, snap.Position = re.Version, re.Position
		snap.At = sealed.Time
		if snap.At.IsZero() {
			snap.At = re.Created
		}
	}
	return snap, nil
}

// Events returns every event of the ticket with id, in stream order, as stored: not
// verified, not decoded. Errors: a domain.NotFound *domain.Error when the ticket has no
// stream; errors of the store, wrapped.
func (l *Log) Events(ctx context.Context, id string) ([]eventstore.RecordedEvent, error) {
	evs, err := l.store.ReadStream(ctx, ticket.Stream(id), eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
		return nil, domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: ticket %s: %w", id, err)
	}
	return evs, nil
}
