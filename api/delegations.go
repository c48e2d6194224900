package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/eventstore"
)

type delegationsView struct {
	Principal string               `json:"principal"`
	Grants    []delegation.Grant   `json:"grants"`
	Position  *eventstore.Position `json:"position,omitempty"`
	Appended  *int                 `json:"appended,omitempty"`
}

func (s *Server) grantDelegation(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		GrantID   string    `json:"grant_id"`
		Principal string    `json:"principal"`
		Delegate  string    `json:"delegate"`
		From      time.Time `json:"from"`
		Until     time.Time `json:"until"`
		Processes []string  `json:"processes"`
		Reason    string    `json:"reason"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	req := request(r, "")
	if b.Principal == "" {
		b.Principal = req.Caller.ID
	}
	res, err := s.cfg.Commands.GrantDelegation(r.Context(), commands.GrantDelegation{Request: req, GrantID: b.GrantID, Principal: b.Principal,
		Delegate: b.Delegate, From: b.From, Until: b.Until, Processes: b.Processes, Reason: b.Reason})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Appended > 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, delegationsView{Principal: b.Principal, Grants: nonNil(res.State.Grants), Position: &res.Position, Appended: &res.Appended})
	return nil
}

func (s *Server) revokeDelegation(w http.ResponseWriter, r *http.Request) error {
	p := chi.URLParam(r, "principal_id")
	res, err := s.cfg.Commands.RevokeDelegation(r.Context(), commands.RevokeDelegation{Request: request(r, ""), Principal: p, GrantID: chi.URLParam(r, "grant_id")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, delegationsView{Principal: p, Grants: nonNil(res.State.Grants), Position: &res.Position, Appended: &res.Appended})
	return nil
}

// listDelegations reads a principal's grants from their stream: the caller's own, or
// anyone's for admins and auditors.
func (s *Server) listDelegations(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context())
	p := r.URL.Query().Get("principal")
	if p == "" {
		p = c.ID
	}
	if p != c.ID && !c.Has(commands.RoleAdmin) && !c.Has(commands.RoleAuditor) {
		return domain.Errorf(domain.Forbidden, "not-principal", "only admins and auditors may read another principal's delegations")
	}
	st, err := s.cfg.Commands.Delegations(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, delegationsView{Principal: p, Grants: nonNil(st.Grants)})
	return nil
}
