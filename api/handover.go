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

// handoverBatch is the most tickets one handover call changes; a caller with more to hand
// over calls again (more is set) with the answer's next as after and its position as
// min_position.
const handoverBatch = 100

// gone are the codes of a ticket that no longer holds the principal's work when its turn
// comes: handed over already, or closed, since the read model listed it.
var gone = []string{"nothing-to-hand-over", "ticket-closed"}

type handoverBody struct {
	To      string `json:"to"`
	Comment string `json:"comment"`
}

// handover moves a principal's work on every open ticket to another user, as an admin
// (离职交接): on each ticket, their pending task is reassigned, their waiting turns and
// their place among the handlers of the route's nodes go to the new user, so that nothing
// waits for someone who has left. Each ticket is its own command; one refusal does not
// stop the others. A ticket the read model still lists that no longer holds their work is
// skipped, not failed.
func (s *Server) handover(w http.ResponseWriter, r *http.Request) error {
	var b handoverBody
	if err := decode(r, &b); err != nil {
		return err
	}
	from := chi.URLParam(r, "principal_id")
	if st, ok := s.cfg.Principals.Get(from); !ok || !st.Exists() {
		return domain.Errorf(domain.NotFound, "no-such-principal", "no principal %s", from)
	}
	if err := s.cfg.Commands.CheckUser(b.To, "to"); err != nil {
		return err
	}
	if b.To == from {
		return domain.FieldError("self-transfer", "to", "%s's work cannot be handed over to %s", from, b.To)
	}
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	ids, err := s.cfg.ReadSide.Workbench.HeldBy(r.Context(), from, r.URL.Query().Get("after"), handoverBatch+1)
	if err != nil {
		return err
	}
	out := struct {
		Principal  string              `json:"principal"`
		To         string              `json:"to"`
		HandedOver int                 `json:"handed_over"`
		Skipped    int                 `json:"skipped"`
		Failed     int                 `json:"failed"`
		Results    []batchItem         `json:"results"`
		More       bool                `json:"more"`
		Next       string              `json:"next,omitempty"`
		Position   eventstore.Position `json:"position,omitzero"`
	}{Principal: from, To: b.To, Results: make([]batchItem, 0, min(len(ids), handoverBatch))}
	if len(ids) > handoverBatch {
		ids, out.More = ids[:handoverBatch], true
	}
	for _, id := range ids {
		res, err := s.cfg.Commands.HandoverTicket(r.Context(), commands.HandoverTicket{Request: request(r, "\x00"+id),
			TicketID: id, From: from, To: b.To, Comment: b.Comment})
		out.Next = id
		item := s.batchItemOf(r, id, res, err)
		switch {
		case item.Problem == nil:
			out.HandedOver++
			out.Position = res.Position
		case slices.Contains(gone, item.Problem.Code):
			out.Skipped++
		default:
			out.Failed++
		}
		out.Results = append(out.Results, item)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
