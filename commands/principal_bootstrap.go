package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain/principal"
)

// BootstrapActor is the actor recorded on the events of the bootstrap.
const BootstrapActor = "ticketd-bootstrap"

// Bootstrap creates the first admin of a fresh installation, with one token.
type Bootstrap struct {
	// ID names the admin; empty means "admin".
	ID string
}

// Bootstrap creates the admin principal and issues its token in one append, if the
// admin's stream does not exist yet. It returns the token (its secret, to be shown once)
// and true when it did; false with no token when the admin already exists, which is what
// every start after the first sees. Concurrent bootstraps create one admin: the others
// return false.
func (s *Service) Bootstrap(ctx context.Context, b Bootstrap) (IssuedToken, bool, error) {
	id := b.ID
	if id == "" {
		id = "admin"
	}
	secret, err := newSecret()
	if err != nil {
		return IssuedToken{}, false, err
	}
	commandID := uuid.New()
	tokenID := uuid.NewSHA1(tokenNamespace, commandID[:]).String()
	m := s.meta(Request{CommandID: commandID, Caller: Caller{ID: BootstrapActor, Roles: []string{RoleAdmin}}})
	by := principal.Actor{ID: BootstrapActor, Admin: true}
	res, err := Execute(ctx, s.store, principalAggregate, principal.Stream(id), m, func(st principal.State) ([]principal.Event, error) {
		if st.Exists() {
			return nil, nil
		}
		created, err := principal.Decide(st, principal.Create{ID: id, Kind: principal.User, Name: "Administrator",
			Roles: []string{principal.RoleAdmin}, By: by, At: m.Time})
		if err != nil {
			return nil, err
		}
		st = principal.Evolve(st, created[0])
		issued, err := principal.Decide(st, principal.IssueToken{TokenID: tokenID, Hash: principal.HashToken(secret),
			Label: "bootstrap", By: by, At: m.Time})
		if err != nil {
			return nil, err
		}
		return append(created, issued...), nil
	})
	if err != nil || res.Appended == 0 {
		return IssuedToken{}, false, err
	}
	tok, _ := res.State.Token(tokenID)
	return IssuedToken{PrincipalResult: res, Secret: secret, Token: tok}, true, nil
}
