package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/eventstore"
)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context())
	pos, err := minPosition(r)
	if err != nil {
		return err
	}
	if !pos.IsZero() {
		// The caller was authenticated before the wait; after it, the principal index
		// holds every change up to pos: authenticate again to answer with them.
		if err := s.waitPrincipals(r); err != nil {
			return err
		}
		if c, err = s.authenticate(r); err != nil {
			return err
		}
	}
	out := map[string]any{"id": c.ID, "system": c.System, "roles": nonNil(c.Roles), "on_behalf_of": c.OnBehalfOf}
	if st, ok := s.cfg.Principals.Get(c.ID); ok {
		out["kind"], out["groups"] = st.Kind, nonNil(st.Groups)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listPrincipals(w http.ResponseWriter, r *http.Request) error {
	if err := s.waitPrincipals(r); err != nil {
		return err
	}
	list := s.cfg.Principals.List()
	out := make([]principalView, 0, len(list))
	for _, st := range list {
		out = append(out, principalViewOf(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"principals": out})
	return nil
}

func (s *Server) getPrincipal(w http.ResponseWriter, r *http.Request) error {
	l, err := s.cfg.Commands.Principal(r.Context(), chi.URLParam(r, "principal_id"))
	if err != nil {
		return err
	}
	v := principalViewOf(l.State)
	v.Version, v.Position = l.Version, &l.Position
	writeJSON(w, http.StatusOK, v)
	return nil
}

// principalDone answers a principal command once the principal index reflects it, so
// that the next request authenticates and routes with the change.
func (s *Server) principalDone(w http.ResponseWriter, r *http.Request, status int, res commands.PrincipalResult) error {
	if err := s.waitIndex(r, res.Position); err != nil {
		return err
	}
	if status == http.StatusCreated && res.Appended == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, principalResultOf(res))
	return nil
}

// waitIndex waits, bounded, until the principal index has folded the log up to pos, the
// position of a principal or process command: this server's next requests see its effect.
func (s *Server) waitIndex(r *http.Request, pos eventstore.Position) error {
	ctx, cancel := contextWithTimeout(r, s.cfg.WaitTimeout)
	defer cancel()
	return s.cfg.Principals.WaitFor(ctx, pos)
}

func (s *Server) createPrincipal(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		ID         string            `json:"id"`
		Kind       principal.Kind    `json:"kind"`
		Name       string            `json:"name"`
		System     string            `json:"system"`
		Department string            `json:"department"`
		Attributes map[string]string `json:"attributes"`
		Roles      []string          `json:"roles"`
		Groups     []string          `json:"groups"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	res, err := s.cfg.Commands.CreatePrincipal(r.Context(), commands.CreatePrincipal{Request: request(r, ""), ID: b.ID, Kind: b.Kind,
		Name: b.Name, System: b.System, Department: b.Department, Attributes: b.Attributes, Roles: b.Roles, Groups: b.Groups})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/principals/"+b.ID)
	return s.principalDone(w, r, http.StatusCreated, res)
}

func (s *Server) changePrincipal(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "principal_id")
	cur, err := s.cfg.Commands.Principal(r.Context(), id)
	if err != nil {
		return err
	}
	b := struct {
		Name       *string           `json:"name"`
		Department *string           `json:"department"`
		Attributes map[string]string `json:"attributes"`
	}{}
	if err := decode(r, &b); err != nil {
		return err
	}
	c := commands.ChangePrincipal{Request: request(r, ""), ID: id, Name: cur.State.Name, Department: cur.State.Department, Attributes: cur.State.Attributes}
	if b.Name != nil {
		c.Name = *b.Name
	}
	if b.Department != nil {
		c.Department = *b.Department
	}
	if b.Attributes != nil {
		c.Attributes = b.Attributes
	}
	res, err := s.cfg.Commands.ChangePrincipal(r.Context(), c)
	if err != nil {
		return err
	}
	return s.principalDone(w, r, http.StatusOK, res)
}

func (s *Server) setEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var b struct {
			Reason string `json:"reason"`
		}
		if err := decode(r, &b); err != nil {
			return err
		}
		res, err := s.cfg.Commands.SetPrincipalEnabled(r.Context(), commands.SetPrincipalEnabled{Request: request(r, ""),
			ID: chi.URLParam(r, "principal_id"), Enabled: enabled, Reason: b.Reason})
		if err != nil {
			return err
		}
		return s.principalDone(w, r, http.StatusOK, res)
	}
}

func (s *Server) membership(group, remove bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := commands.ChangeMembership{Request: request(r, ""), ID: chi.URLParam(r, "principal_id"), Remove: remove}
		if group {
			c.Group = chi.URLParam(r, "group")
		} else {
			c.Role = chi.URLParam(r, "role")
		}
		res, err := s.cfg.Commands.ChangeMembership(r.Context(), c)
		if err != nil {
			return err
		}
		return s.principalDone(w, r, http.StatusOK, res)
	}
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Label     string    `json:"label"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	id := chi.URLParam(r, "principal_id")
	res, err := s.cfg.Commands.IssueToken(r.Context(), commands.IssueToken{Request: request(r, ""), ID: id, Label: b.Label, ExpiresAt: b.ExpiresAt})
	if err != nil {
		return err
	}
	if err := s.waitIndex(r, res.PrincipalResult.Position); err != nil {
		if r.Context().Err() != nil {
			return err
		}
		// The token is issued and its secret is in this answer only: a 503 would lose it.
		// It authenticates here once the principal index has caught up.
		s.logger.Warn("token issued before the principal index reflected it", "principal", id, "token_id", res.Token.ID, "error", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"principal": id, "token": res.Secret, "token_id": res.Token.ID, "position": res.Position}
	if !res.Token.ExpiresAt.IsZero() {
		body["expires_at"] = res.Token.ExpiresAt
	}
	writeJSON(w, http.StatusCreated, body)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	res, err := s.cfg.Commands.RevokeToken(r.Context(), commands.RevokeToken{Request: request(r, ""),
		ID: chi.URLParam(r, "principal_id"), TokenID: chi.URLParam(r, "token_id")})
	if err != nil {
		return err
	}
	return s.principalDone(w, r, http.StatusOK, res)
}

type membershipView struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

func (s *Server) listMemberships(groups bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.waitPrincipals(r); err != nil {
			return err
		}
		members := map[string][]string{}
		for _, st := range s.cfg.Principals.List() {
			if st.Disabled {
				continue
			}
			names := st.Roles
			if groups {
				names = st.Groups
			}
			for _, n := range names {
				members[n] = append(members[n], st.ID)
			}
		}
		out := make([]membershipView, 0, len(members))
		for n, ids := range members {
			out = append(out, membershipView{Name: n, Members: ids})
		}
		slices.SortFunc(out, func(a, b membershipView) int {
			if a.Name < b.Name {
				return -1
			}
			return 1
		})
		writeJSON(w, http.StatusOK, map[string]any{"items": out})
		return nil
	}
}
