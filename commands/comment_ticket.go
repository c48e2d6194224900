package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// CommentTicket adds a comment to a ticket.
type CommentTicket struct {
	Request
	TicketID string
	Text     string
}

// CommentTicket records the comment. Participants (submitter, watchers, CC'd users,
// handlers), the owning system and admins may comment, also after the outcome.
func (s *Service) CommentTicket(ctx context.Context, c CommentTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Comment{Text: c.Text, By: a, At: m.Time}, nil
	})
}
