package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/domain/ticket"
)

// ticketAggregate folds a ticket stream; ticket streams carry the hash chain.
var ticketAggregate = Aggregate[ticket.State, ticket.Event]{
	Codec:   Codec[ticket.Event]{Encode: ticket.Encode, Decode: ticket.Decode, Schema: ticket.SchemaVersion},
	Initial: ticket.Initial,
	Evolve:  ticket.Evolve,
	Chained: true,
}

// TicketResult is what a ticket command returns.
type TicketResult = Result[ticket.State]

// ticketNamespace is the UUIDv5 namespace of ticket ids derived from business keys.
var ticketNamespace = uuid.MustParse("3d0c2f0e-8a55-4c4e-9a61-2f5b7f0c9d10")

// TicketIDFor returns the ticket id of a business key: the same system, process and
// business key always name the same ticket, which makes submission idempotent.
func TicketIDFor(system, process, businessKey string) string {
	return uuid.NewSHA1(ticketNamespace, []byte(system+"\x00"+process+"\x00"+businessKey)).String()
}

// validTicketID reports whether id can name a ticket: a UUID in its canonical
// 8-4-4-4-12 hexadecimal form, the one ticket ids are made and written in (the API's
// format: uuid). uuid.Parse alone also takes braces, a urn:uuid: prefix and 32 bare
// digits, which would name other streams.
func validTicketID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// Ticket loads a ticket's current state from its stream, verifying its hash chain.
// Errors: a NotFound *domain.Error when no such ticket exists.
func (s *Service) Ticket(ctx context.Context, id string) (Loaded[ticket.State], error) {
	if !validTicketID(id) {
		return Loaded[ticket.State]{}, domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %q", id)
	}
	l, err := Load(ctx, s.store, ticketAggregate, ticket.Stream(id))
	if err != nil {
		return l, err
	}
	if l.Version == 0 {
		return l, domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %s", id)
	}
	return l, nil
}

// onTicket runs a command on an existing ticket: decide receives the ticket's state and
// the caller as the domain sees them.
func (s *Service) onTicket(ctx context.Context, id string, r Request, decide func(ticket.State, ticket.Actor, Meta) (ticket.Command, error)) (TicketResult, error) {
	if !validTicketID(id) {
		return TicketResult{}, domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %q", id)
	}
	actor, err := s.actor(ctx, r.Caller)
	if err != nil {
		return TicketResult{}, err
	}
	m := s.meta(r)
	return ExecuteCached(ctx, s.store, s.tickets, ticketAggregate, ticket.Stream(id), m, func(st ticket.State) ([]ticket.Event, error) {
		// A business system's client knows only its own system's tickets, as it reads them.
		if st.Status == ticket.StatusNone || (actor.System != "" && st.System != actor.System) {
			return nil, domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %s", id)
		}
		cmd, err := decide(st, actor, m)
		if err != nil {
			return nil, err
		}
		evs, err := ticket.Decide(st, cmd)
		var de *domain.Error
		if errors.As(err, &de) && de.Code == "not-a-handler" && actor.OnBehalfOf == "" {
			if holder := s.delegatingHandler(ctx, st, actor.ID, m.Time); holder != "" {
				de.Message += fmt.Sprintf("; as %s's delegate, %s acts on behalf of %s", holder, actor.ID, holder)
			}
		}
		return evs, err
	})
}

// delegatingHandler returns a pending handler of the ticket whose delegation grants let
// id act for them now, if any: the answer to a delegate who decides as themselves.
func (s *Service) delegatingHandler(ctx context.Context, st ticket.State, id string, at time.Time) string {
	for _, h := range st.PendingHandlers() {
		l, err := Load(ctx, s.store, delegationAggregate, delegation.Stream(h))
		if err != nil {
			continue
		}
		if _, ok := l.State.Active(id, st.ProcessKey, at); ok {
			return h
		}
	}
	return ""
}

// pinned returns the process version a ticket was submitted under.
func (s *Service) pinned(ctx context.Context, st ticket.State) (ticket.Definition, error) {
	def, err := s.definitions.Version(ctx, st.ProcessKey, st.ProcessVersion)
	if err != nil {
		return nil, fmt.Errorf("commands: process %s version %d: %w", st.ProcessKey, st.ProcessVersion, err)
	}
	return def, nil
}

// hasContent reports whether raw holds a JSON value other than null.
func hasContent(raw json.RawMessage) bool {
	var v any
	return len(raw) > 0 && json.Unmarshal(raw, &v) == nil && v != nil
}
