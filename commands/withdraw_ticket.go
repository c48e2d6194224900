package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// WithdrawTicket ends a ticket at its submitter's request.
type WithdrawTicket struct {
	Request
	TicketID string
	Reason   string
}

// WithdrawTicket withdraws the ticket: a final outcome. Only the submitter (or the owning
// business system) may, before the ticket ends.
func (s *Service) WithdrawTicket(ctx context.Context, c WithdrawTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Withdraw{Reason: c.Reason, By: a, At: m.Time}, nil
	})
}
