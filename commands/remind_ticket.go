package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// RemindTicket is the scheduler's SLA reminder for a ticket's active node.
type RemindTicket struct {
	Request
	TicketID string
	// Kind is "due-soon" or "overdue".
	Kind string
	// Whole reminds of the whole ticket's SLA instead of the active node's.
	Whole bool
}

// RemindTicket records the reminder once per node activation and kind; a reminder already
// sent, or for a ticket that moved on, is a no-op.
func (s *Service) RemindTicket(ctx context.Context, c RemindTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Remind{Kind: c.Kind, Whole: c.Whole, By: a, At: m.Time}, nil
	})
}
