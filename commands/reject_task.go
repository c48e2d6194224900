package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// RejectTask rejects the caller's pending task on a ticket.
type RejectTask struct {
	Request
	TicketID string
	TaskID   string
	Comment  string
}

// RejectTask records the rejection: the ticket ends rejected, or goes back to the node the
// process names for rejections of this node.
func (s *Service) RejectTask(ctx context.Context, c RejectTask) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Reject{TaskID: c.TaskID, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
