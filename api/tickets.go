package api

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

type submitBody struct {
	Process     string `json:"process"`
	Version     int    `json:"version"`
	BusinessKey string `json:"business_key"`
	TicketID    string `json:"ticket_id"`
	Submitter   struct {
		ID     string              `json:"id"`
		Picked map[string][]string `json:"picked"`
	} `json:"submitter"`
	Title    string          `json:"title"`
	Fields   json.RawMessage `json:"fields"`
	CC       []string        `json:"cc"`
	Watchers []string        `json:"watchers"`
}

func (s *Server) submitTicket(w http.ResponseWriter, r *http.Request) error {
	var b submitBody
	if err := decode(r, &b); err != nil {
		return err
	}
	res, err := s.cfg.Commands.SubmitTicket(r.Context(), commands.SubmitTicket{Request: request(r, ""), Process: b.Process,
		Version: b.Version, BusinessKey: b.BusinessKey, TicketID: b.TicketID,
		Submitter: ticket.Submitter{ID: b.Submitter.ID, Picked: b.Submitter.Picked},
		Title:     b.Title, Fields: b.Fields, CC: b.CC, Watchers: b.Watchers})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Appended > 0 {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/tickets/"+res.State.ID)
	}
	writeJSON(w, status, ticketResultOf(res))
	return nil
}

// ticketCommand serves a command on one ticket: decode the body into a new B, build the
// command with the ticket id, call it, answer with the ticket's result.
func ticketCommand[B any](call func(r *http.Request, req commands.Request, id string, b B) (commands.TicketResult, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var b B
		if err := decode(r, &b); err != nil {
			return err
		}
		res, err := call(r, request(r, ""), chi.URLParam(r, "ticket_id"), b)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, ticketResultOf(res))
		return nil
	}
}

type approveBody struct {
	TaskID  string          `json:"task_id"`
	Comment string          `json:"comment"`
	Changes json.RawMessage `json:"changes"`
}

type decisionBody struct {
	TaskID  string `json:"task_id"`
	Comment string `json:"comment"`
}

type returnBody struct {
	TaskID  string `json:"task_id"`
	To      string `json:"to"`
	Comment string `json:"comment"`
}

type signerBody struct {
	TaskID  string `json:"task_id"`
	Signer  string `json:"signer"`
	Where   string `json:"where"`
	Comment string `json:"comment"`
}

func (s *Server) ticketHandlers() map[string]handlerFunc {
	svc := s.cfg.Commands
	return map[string]handlerFunc{
		"approve": ticketCommand(func(r *http.Request, req commands.Request, id string, b approveBody) (commands.TicketResult, error) {
			return svc.ApproveTask(r.Context(), commands.ApproveTask{Request: req, TicketID: id, TaskID: b.TaskID, Comment: b.Comment, Changes: b.Changes})
		}),
		"reject": ticketCommand(func(r *http.Request, req commands.Request, id string, b decisionBody) (commands.TicketResult, error) {
			return svc.RejectTask(r.Context(), commands.RejectTask{Request: req, TicketID: id, TaskID: b.TaskID, Comment: b.Comment})
		}),
		"return": ticketCommand(func(r *http.Request, req commands.Request, id string, b returnBody) (commands.TicketResult, error) {
			return svc.ReturnTicket(r.Context(), commands.ReturnTicket{Request: req, TicketID: id, TaskID: b.TaskID, To: b.To, Comment: b.Comment})
		}),
		"transfer": ticketCommand(func(r *http.Request, req commands.Request, id string, b returnBody) (commands.TicketResult, error) {
			return svc.TransferTask(r.Context(), commands.TransferTask{Request: req, TicketID: id, TaskID: b.TaskID, To: b.To, Comment: b.Comment})
		}),
		"signers": ticketCommand(func(r *http.Request, req commands.Request, id string, b signerBody) (commands.TicketResult, error) {
			return svc.AddSigner(r.Context(), commands.AddSigner{Request: req, TicketID: id, TaskID: b.TaskID, Signer: b.Signer, Where: b.Where, Comment: b.Comment})
		}),
		"comments": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Text string `json:"text"`
		}) (commands.TicketResult, error) {
			return svc.CommentTicket(r.Context(), commands.CommentTicket{Request: req, TicketID: id, Text: b.Text})
		}),
		"cc": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Users []string `json:"users"`
		}) (commands.TicketResult, error) {
			return svc.CCTicket(r.Context(), commands.CCTicket{Request: req, TicketID: id, Users: b.Users})
		}),
		"urge": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Comment string `json:"comment"`
		}) (commands.TicketResult, error) {
			return svc.UrgeTicket(r.Context(), commands.UrgeTicket{Request: req, TicketID: id, Comment: b.Comment})
		}),
		"withdraw": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Reason string `json:"reason"`
		}) (commands.TicketResult, error) {
			return svc.WithdrawTicket(r.Context(), commands.WithdrawTicket{Request: req, TicketID: id, Reason: b.Reason})
		}),
		"resubmit": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Changes json.RawMessage     `json:"changes"`
			Picked  map[string][]string `json:"picked"`
			Comment string              `json:"comment"`
		}) (commands.TicketResult, error) {
			return svc.ResubmitTicket(r.Context(), commands.ResubmitTicket{Request: req, TicketID: id, Changes: b.Changes, Picked: b.Picked, Comment: b.Comment})
		}),
		"execution": ticketCommand(func(r *http.Request, req commands.Request, id string, b struct {
			Status string `json:"status"`
			Detail string `json:"detail"`
		}) (commands.TicketResult, error) {
			return svc.ReportExecution(r.Context(), commands.ReportExecution{Request: req, TicketID: id, Status: b.Status, Detail: b.Detail})
		}),
	}
}

type batchBody struct {
	Items []struct {
		TicketID string `json:"ticket_id"`
		TaskID   string `json:"task_id"`
		Comment  string `json:"comment"`
	} `json:"items"`
}

type batchItem struct {
	TicketID string        `json:"ticket_id"`
	Status   int           `json:"status"`
	Result   *ticketResult `json:"result,omitempty"`
	Problem  *Problem      `json:"problem,omitempty"`
}

// batchApprove approves each item on its own, in order; one item's refusal does not stop
// the others. With an Idempotency-Key each item's command id derives from the key and the
// item's ticket.
func (s *Server) batchApprove(w http.ResponseWriter, r *http.Request) error {
	var b batchBody
	if err := decode(r, &b); err != nil {
		return err
	}
	out := struct {
		Approved int                 `json:"approved"`
		Failed   int                 `json:"failed"`
		Position eventstore.Position `json:"position,omitzero"`
		Results  []batchItem         `json:"results"`
	}{Results: make([]batchItem, 0, len(b.Items))}
	for _, it := range b.Items {
		res, err := s.cfg.Commands.ApproveTask(r.Context(), commands.ApproveTask{Request: request(r, "\x00"+it.TicketID+"\x00"+it.TaskID),
			TicketID: it.TicketID, TaskID: it.TaskID, Comment: it.Comment})
		item := s.batchItemOf(r, it.TicketID, res, err)
		if item.Problem != nil {
			out.Failed++
		} else {
			out.Approved++
			if res.Position.After(out.Position) {
				out.Position = res.Position
			}
		}
		out.Results = append(out.Results, item)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchItemOf is the outcome of one ticket's command in a request over several: its
// result, or its problem (an internal error is logged).
func (s *Server) batchItemOf(r *http.Request, ticketID string, res commands.TicketResult, err error) batchItem {
	if err != nil {
		p, internal := problemOf(err)
		if internal {
			s.logger.ErrorContext(r.Context(), "batch item failed", "request_id", requestID(r.Context()), "ticket", ticketID, "error", err)
		}
		return batchItem{TicketID: ticketID, Status: p.Status, Problem: &p}
	}
	tr := ticketResultOf(res)
	return batchItem{TicketID: ticketID, Status: http.StatusOK, Result: &tr}
}
