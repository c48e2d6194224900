package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// ReportExecution is the owning business system's report on executing a ticket's outcome.
type ReportExecution struct {
	Request
	TicketID string
	// Status is "succeeded" or "failed".
	Status string
	Detail string
}

// ReportExecution records the report on the ticket, closing the loop from cause to
// result. Only the system that submitted the ticket may report, after its final outcome.
func (s *Service) ReportExecution(ctx context.Context, c ReportExecution) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.ReportExecution{Status: c.Status, Detail: c.Detail, By: a, At: m.Time}, nil
	})
}
