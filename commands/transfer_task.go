package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// TransferTask hands the caller's pending task to another user (转交).
type TransferTask struct {
	Request
	TicketID string
	TaskID   string
	To       string
	Comment  string
}

// TransferTask moves the task to To, who then decides in the caller's place.
func (s *Service) TransferTask(ctx context.Context, c TransferTask) (TicketResult, error) {
	if err := s.checkUser(c.To, "to"); err != nil {
		return TicketResult{}, err
	}
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Transfer{TaskID: c.TaskID, To: c.To, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
