package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
)

// allowedMethods lists the methods r serves at req's path, for the Allow header of a 405
// (RFC 9110, 15.5.6): HEAD wherever GET is.
func allowedMethods(r *chi.Mux, req *http.Request) []string {
	path := req.URL.RawPath
	if path == "" {
		path = req.URL.Path
	}
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
			if m == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	return out
}

func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

var (
	public     = access{public: true}
	anyone     = access{}
	admins     = access{roles: []string{commands.RoleAdmin}}
	designers  = access{roles: []string{commands.RoleDesigner}}
	auditors   = access{roles: []string{commands.RoleAuditor}}
	principals = access{roles: []string{commands.RoleAdmin, commands.RoleAuditor}}
)

func (s *Server) buildRouter() error {
	r := chi.NewRouter()
	r.Use(requestIDs, s.recoverer, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		s.writeProblem(w, req, domain.Errorf(domain.NotFound, codeNoRoute, "no route %s", req.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allowed := allowedMethods(r, req)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeProblem(w, req, domain.Errorf(domain.NotFound, codeMethod, "method %s is not allowed here; %s is", req.Method, strings.Join(allowed, ", ")))
	})
	s.router = r
	ticket := s.ticketHandlers()
	routes := []struct {
		method, pattern string
		acc             access
		h               handlerFunc
	}{
		{"GET", "/healthz", public, s.healthz},
		{"GET", "/readyz", public, s.readyz},
		{"GET", "/metrics", public, s.serveMetrics},
		{"GET", "/openapi.json", public, s.openapi},
		{"GET", "/v1/me", anyone, s.whoami},

		{"POST", "/v1/tickets", anyone, s.submitTicket},
		{"POST", "/v1/tickets/{ticket_id}/approve", anyone, ticket["approve"]},
		{"POST", "/v1/tickets/{ticket_id}/reject", anyone, ticket["reject"]},
		{"POST", "/v1/tickets/{ticket_id}/return", anyone, ticket["return"]},
		{"POST", "/v1/tickets/{ticket_id}/transfer", anyone, ticket["transfer"]},
		{"POST", "/v1/tickets/{ticket_id}/signers", anyone, ticket["signers"]},
		{"POST", "/v1/tickets/{ticket_id}/comments", anyone, ticket["comments"]},
		{"POST", "/v1/tickets/{ticket_id}/cc", anyone, ticket["cc"]},
		{"POST", "/v1/tickets/{ticket_id}/urge", anyone, ticket["urge"]},
		{"POST", "/v1/tickets/{ticket_id}/withdraw", anyone, ticket["withdraw"]},
		{"POST", "/v1/tickets/{ticket_id}/resubmit", anyone, ticket["resubmit"]},
		{"POST", "/v1/tickets/{ticket_id}/execution", anyone, ticket["execution"]},
		{"POST", "/v1/approvals", anyone, s.batchApprove},

		{"GET", "/v1/delegations", anyone, s.listDelegations},
		{"POST", "/v1/delegations", anyone, s.grantDelegation},
		{"DELETE", "/v1/delegations/{principal_id}/{grant_id}", anyone, s.revokeDelegation},

		{"GET", "/v1/processes", anyone, s.listProcesses},
		{"GET", "/v1/processes/{key}", anyone, s.getProcess},
		{"PUT", "/v1/processes/{key}", designers, s.publishProcess},
		{"GET", "/v1/processes/{key}/versions/{version}", anyone, s.getProcessVersion},
		{"POST", "/v1/processes/{key}/retire", designers, s.retireProcess},
		{"POST", "/v1/definitions/validate", designers, s.validateDefinition},
		{"POST", "/v1/definitions/simulate", designers, s.simulate},

		{"GET", "/v1/principals", principals, s.listPrincipals},
		{"POST", "/v1/principals", admins, s.createPrincipal},
		{"GET", "/v1/principals/{principal_id}", principals, s.getPrincipal},
		{"PATCH", "/v1/principals/{principal_id}", admins, s.changePrincipal},
		{"POST", "/v1/principals/{principal_id}/disable", admins, s.setEnabled(false)},
		{"POST", "/v1/principals/{principal_id}/enable", admins, s.setEnabled(true)},
		{"PUT", "/v1/principals/{principal_id}/roles/{role}", admins, s.membership(false, false)},
		{"DELETE", "/v1/principals/{principal_id}/roles/{role}", admins, s.membership(false, true)},
		{"PUT", "/v1/principals/{principal_id}/groups/{group}", admins, s.membership(true, false)},
		{"DELETE", "/v1/principals/{principal_id}/groups/{group}", admins, s.membership(true, true)},
		{"POST", "/v1/principals/{principal_id}/tokens", anyone, s.issueToken},
		{"DELETE", "/v1/principals/{principal_id}/tokens/{token_id}", anyone, s.revokeToken},
		{"GET", "/v1/roles", principals, s.listMemberships(false)},
		{"GET", "/v1/groups", principals, s.listMemberships(true)},
	}
	for _, rt := range routes {
		if err := s.handle(rt.method, rt.pattern, rt.acc, rt.h); err != nil {
			return err
		}
	}
	for _, rt := range s.webhookRoutes() {
		if err := s.handle(rt.method, rt.pattern, rt.acc, rt.h); err != nil {
			return err
		}
	}
	if s.cfg.ReadSide != nil {
		return s.readRoutes()
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	return nil
}

// readyz runs every check with a short deadline: 200 when all pass, 503 otherwise, with
// each check's state.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	names := make([]string, 0, len(s.cfg.Checks)+1)
	for n := range s.cfg.Checks {
		names = append(names, n)
	}
	slices.Sort(names)
	if !s.cfg.Principals.CaughtUp() {
		checks["principals"], status = "loading", http.StatusServiceUnavailable
	} else {
		checks["principals"] = "ok"
	}
	for _, n := range names {
		if err := s.cfg.Checks[n](ctx); err != nil {
			checks[n], status = err.Error(), http.StatusServiceUnavailable
		} else {
			checks[n] = "ok"
		}
	}
	state := "ok"
	if status != http.StatusOK {
		state = "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": checks})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Metrics == nil {
		return domain.Errorf(domain.NotFound, codeNoRoute, "metrics are not served")
	}
	s.cfg.Metrics.ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.docJSON)
	return nil
}
