package api

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// handoverBatch is the most tasks one handover call reassigns; a caller with more to hand
// over calls again (more is set), passing the answer's position as min_position.
const handoverBatch = 100

// gone are the codes of a task no longer pending: decided, moved on, or its ticket closed
// or waiting for its submitter.
var gone = []string{"task-closed", "no-such-task", "ticket-closed", "no-active-node"}

type handoverBody struct {
	To      string `json:"to"`
	Comment string `json:"comment"`
}

type handoverItem struct {
	TicketID string        `json:"ticket_id"`
	TaskID   string        `json:"task_id"`
	Status   int           `json:"status"`
	Result   *ticketResult `json:"result,omitempty"`
	Problem  *Problem      `json:"problem,omitempty"`
}

// handover reassigns the pending tasks a principal holds (not those they hold as someone's
// delegate) to another user, as an admin's transfer of each (离职交接): the work of an
// approver who has left or cannot act moves on instead of waiting for them. Each task is
// its own command; one refusal does not stop the others. A task the read model still shows
// pending that has meanwhile been decided, moved or closed is skipped, not failed.
func (s *Server) handover(w http.ResponseWriter, r *http.Request) error {
	var b handoverBody
	if err := decode(r, &b); err != nil {
		return err
	}
	from := chi.URLParam(r, "principal_id")
	if err := s.cfg.Commands.CheckUser(b.To, "to"); err != nil {
		return err
	}
	if b.To == from {
		return domain.FieldError("self-transfer", "to", "%s's tasks cannot be handed over to %s", from, b.To)
	}
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	out := struct {
		Principal   string              `json:"principal"`
		To          string              `json:"to"`
		Transferred int                 `json:"transferred"`
		Skipped     int                 `json:"skipped"`
		Failed      int                 `json:"failed"`
		Results     []handoverItem      `json:"results"`
		More        bool                `json:"more"`
		Position    eventstore.Position `json:"position,omitzero"`
	}{Principal: from, To: b.To, Results: []handoverItem{}}
	q := projections.WorkbenchQuery{Principal: from, List: projections.Pending, Limit: projections.MaxPageSize}
	for len(out.Results) < handoverBatch {
		page, err := s.cfg.ReadSide.Workbench.List(r.Context(), q)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if it.AsDelegate || it.Assignee != from {
				continue
			}
			if len(out.Results) == handoverBatch {
				out.More = true
				break
			}
			res, err := s.cfg.Commands.TransferTask(r.Context(), commands.TransferTask{
				Request:  request(r, "\x00"+it.TicketID+"\x00"+it.TaskID),
				TicketID: it.TicketID, TaskID: it.TaskID, To: b.To, Comment: b.Comment})
			if err != nil {
				p, internal := problemOf(err)
				if internal {
					s.logger.ErrorContext(r.Context(), "handover item failed", "request_id", requestID(r.Context()),
						"ticket", it.TicketID, "task", it.TaskID, "error", err)
				}
				if slices.Contains(gone, p.Code) {
					out.Skipped++ // no longer pending: the read model had not yet seen it move
				} else {
					out.Failed++
				}
				out.Results = append(out.Results, handoverItem{TicketID: it.TicketID, TaskID: it.TaskID, Status: p.Status, Problem: &p})
				continue
			}
			tr := ticketResultOf(res)
			out.Transferred++
			out.Position = res.Position
			out.Results = append(out.Results, handoverItem{TicketID: it.TicketID, TaskID: it.TaskID, Status: http.StatusOK, Result: &tr})
		}
		if page.Next == "" || out.More {
			break
		}
		q.Cursor = page.Next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
