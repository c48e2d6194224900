package commands

import (
	"context"
	"encoding/json"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// ApproveTask approves the caller's pending task on a ticket.
type ApproveTask struct {
	Request
	TicketID string
	// TaskID names the task when the caller holds several; empty means theirs.
	TaskID  string
	Comment string
	// Changes edit fields the node may edit, as a JSON object.
	Changes json.RawMessage
}

// ApproveTask records the approval and moves the ticket on: to the next node, or to its
// final approval after the last. Only a current handler or their active delegate may
// approve (Forbidden); a closed ticket or task is a Conflict.
func (s *Service) ApproveTask(ctx context.Context, c ApproveTask) (TicketResult, error) {
	return s.onTicket(ctx, c.TicketID, c.Request, func(st ticket.State, a ticket.Actor, m Meta) (ticket.Command, error) {
		cmd := ticket.Approve{TaskID: c.TaskID, Comment: c.Comment, By: a, At: m.Time}
		if hasContent(c.Changes) {
			def, err := s.pinned(ctx, st)
			if err != nil {
				return nil, err
			}
			cmd.Changes, cmd.Definition = c.Changes, def
		}
		return cmd, nil
	})
}
