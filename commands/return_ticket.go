package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// ReturnTicket sends a ticket back from the caller's pending task (退回).
type ReturnTicket struct {
	Request
	TicketID string
	TaskID   string
	// To is empty for the previous node, "submitter", or the key of an earlier node.
	To      string
	Comment string
}

// ReturnTicket returns the ticket to an earlier node, which is activated again, or to
// its submitter, who may then resubmit.
func (s *Service) ReturnTicket(ctx context.Context, c ReturnTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Return{TaskID: c.TaskID, To: c.To, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
