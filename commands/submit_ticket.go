package commands

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
)

// SubmitTicket opens a ticket under the newest version of a process (or a given one).
type SubmitTicket struct {
	Request
	Process string
	// Version pins a published version; 0 means the newest.
	Version int
	// BusinessKey is the business system's own key (an order number...). With it the
	// ticket id derives from system, process and key, so the same submission twice opens
	// one ticket.
	BusinessKey string
	// TicketID is used when there is no business key; empty means one derived from the
	// command id.
	TicketID string
	// Submitter is the person the ticket is for; a user submitting for themselves may
	// leave it empty.
	Submitter ticket.Submitter
	Title     string
	Fields    json.RawMessage
	CC        []string
	Watchers  []string
}

// SubmitTicket validates the fields against the pinned process version, plans the route
// and opens the ticket. Submitting again with the same business key and fields returns
// the existing ticket; other fields are a Conflict.
func (s *Service) SubmitTicket(ctx context.Context, c SubmitTicket) (TicketResult, error) {
	actor, err := s.actor(ctx, c.Caller)
	if err != nil {
		return TicketResult{}, err
	}
	m := s.meta(c.Request)
	if c.Process == "" {
		return TicketResult{}, domain.FieldError("required", "process", "name the process")
	}
	if err := s.checkUsers(c.CC, "cc"); err != nil {
		return TicketResult{}, err
	}
	var def ticket.Definition
	if c.Version > 0 {
		def, err = s.definitions.Version(ctx, c.Process, c.Version)
	} else {
		def, err = s.definitions.Latest(ctx, c.Process)
	}
	if err != nil {
		return TicketResult{}, err
	}
	id := c.TicketID
	switch {
	case c.BusinessKey != "":
		id = TicketIDFor(c.Caller.System, c.Process, c.BusinessKey)
	case id == "":
		id = uuid.NewSHA1(ticketNamespace, m.CommandID[:]).String()
	default:
		if !validTicketID(id) {
			return TicketResult{}, domain.FieldError("invalid", "ticket_id", "must be a UUID in its 8-4-4-4-12 form")
		}
	}
	submitter := c.Submitter
	if submitter.ID == "" && c.Caller.System == "" {
		submitter.ID = c.Caller.Principal()
	}
	cmd := ticket.Submit{TicketID: id, Definition: def, Fields: c.Fields, BusinessKey: c.BusinessKey, Submitter: submitter,
		Title: c.Title, CC: c.CC, Watchers: c.Watchers, By: actor, At: m.Time}
	return ExecuteCreating(ctx, s.store, s.tickets, ticketAggregate, ticket.Stream(id), m, func(st ticket.State) ([]ticket.Event, error) {
		return ticket.Decide(st, cmd)
	})
}
