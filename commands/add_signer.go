package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// AddSigner adds a signer before or after the caller's node (加签).
type AddSigner struct {
	Request
	TicketID string
	TaskID   string
	Signer   string
	// Where is "before" (the signer decides first, then the node again) or "after".
	Where   string
	Comment string
}

// AddSigner inserts a one-signer node into the ticket's route.
func (s *Service) AddSigner(ctx context.Context, c AddSigner) (TicketResult, error) {
	if err := s.checkUser(c.Signer, "signer"); err != nil {
		return TicketResult{}, err
	}
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.AddSigner{TaskID: c.TaskID, Signer: c.Signer, Where: c.Where, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
