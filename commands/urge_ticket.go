package commands

import (
	"context"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// UrgeTicket asks the active node's handlers to hurry (催办).
type UrgeTicket struct {
	Request
	TicketID string
	Comment  string
}

// UrgeTicket records the urge with the handlers urged. The submitter, a watcher or the
// owning system may urge, at most once per node per the process's urge interval
// (Conflict "urged-recently" otherwise).
func (s *Service) UrgeTicket(ctx context.Context, c UrgeTicket) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(st ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		interval := s.urgeInterval
		if def, err := s.pinned(ctx, st); err == nil && def.UrgeInterval() > 0 {
			interval = def.UrgeInterval()
		}
		return ticket.Urge{Comment: c.Comment, Interval: interval, By: a, At: m.Time}, nil
	})
}
