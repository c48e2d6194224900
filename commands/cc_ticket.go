package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// CCTicket copies users in on a ticket (抄送).
type CCTicket struct {
	Request
	TicketID string
	Users    []string
}

// CCTicket adds the users to the ticket's CC list; those already on it are skipped.
func (s *Service) CCTicket(ctx context.Context, c CCTicket) (TicketResult, error) {
	if err := s.checkUsers(c.Users, "users"); err != nil {
		return TicketResult{}, err
	}
	return s.onTicket(ctx, c.TicketID, c.Request, func(_ ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		return ticket.CC{Users: c.Users, By: a, At: m.Time}, nil
	})
}
