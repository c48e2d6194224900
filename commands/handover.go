package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// HandoverTicket moves what one user holds on a ticket to another, as an admin
// (离职交接): their pending task, their waiting turns, and their place in the ticket's
// route.
type HandoverTicket struct {
	Request
	TicketID string
	From     string
	To       string
	Comment  string
}

// HandoverTicket reassigns From's work on the ticket to To, an enabled user.
func (s *Service) HandoverTicket(ctx context.Context, c HandoverTicket) (TicketResult, error) {
	if err := s.checkUser(c.To, "to"); err != nil {
		return TicketResult{}, err
	}
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.Handover{From: c.From, To: c.To, Comment: c.Comment, By: a, At: m.Time}, nil
	})
}
