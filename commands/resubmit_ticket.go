package commands

import (
	"context"
	"encoding/json"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// ResubmitTicket sends a returned ticket on again.
type ResubmitTicket struct {
	Request
	TicketID string
	// Changes are the corrected fields, as a JSON object; null removes a field.
	Changes json.RawMessage
	// Picked, when given, replaces the submitter's earlier picks of approvers.
	Picked  map[string][]string
	Comment string
}

// ResubmitTicket validates the changed fields against the ticket's pinned process version,
// plans the route again and activates its first node. Only the submitter (or the owning
// business system) may resubmit, and only a ticket returned to them.
func (s *Service) ResubmitTicket(ctx context.Context, c ResubmitTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(st ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		def, err := s.pinned(ctx, st)
		if err != nil {
			return nil, err
		}
		return ticket.Resubmit{Definition: def, Changes: c.Changes, Submitter: ticket.Submitter{Picked: c.Picked}, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
