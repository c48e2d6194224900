package commands

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/principal"
)

// principalAggregate folds a principal stream; principal streams carry the hash chain, so
// the history of who held which role and token is tamper-evident like a ticket's.
var principalAggregate = Aggregate[principal.State, principal.Event]{
	Codec:   Codec[principal.Event]{Encode: principal.Encode, Decode: principal.Decode, Schema: principal.SchemaVersion},
	Initial: func() principal.State { return principal.State{} },
	Evolve:  principal.Evolve,
	Chained: true,
}

// PrincipalResult is what a principal command returns.
type PrincipalResult = Result[principal.State]

// CreatePrincipal opens a user or a service principal.
type CreatePrincipal struct {
	Request
	ID         string
	Kind       principal.Kind
	Name       string
	System     string
	Department string
	Attributes map[string]string
	Roles      []string
	Groups     []string
}

// CreatePrincipal records the principal. Only admins may (Forbidden); creating it again
// with the same terms is a no-op, with other terms a Conflict. Errors are the
// *domain.Error values of principal.Decide, or event-store errors.
func (s *Service) CreatePrincipal(ctx context.Context, c CreatePrincipal) (PrincipalResult, error) {
	if !principal.ValidID(c.ID) {
		return PrincipalResult{}, domain.FieldError("invalid", "id", "a principal id is 1 to 128 letters, digits, '.', '_', '@' or '-'")
	}
	m := s.meta(c.Request)
	cmd := principal.Create{ID: c.ID, Kind: c.Kind, Name: c.Name, System: c.System, Department: c.Department,
		Attributes: c.Attributes, Roles: c.Roles, Groups: c.Groups, By: principalActor(c.Caller), At: m.Time}
	return Execute(ctx, s.store, principalAggregate, principal.Stream(c.ID), m, func(st principal.State) ([]principal.Event, error) {
		return principal.Decide(st, cmd)
	})
}

// ChangePrincipal replaces a principal's name, department and attributes.
type ChangePrincipal struct {
	Request
	ID         string
	Name       string
	Department string
	Attributes map[string]string
}

// ChangePrincipal records the new profile; only admins may. An unknown principal is
// NotFound.
func (s *Service) ChangePrincipal(ctx context.Context, c ChangePrincipal) (PrincipalResult, error) {
	return s.onPrincipal(ctx, c.ID, c.Request, func(a principal.Actor, at time.Time) principal.Command {
		return principal.ChangeProfile{Name: c.Name, Department: c.Department, Attributes: c.Attributes, By: a, At: at}
	})
}

// ChangeMembership grants or revokes a role, or adds a principal to a group or removes it.
type ChangeMembership struct {
	Request
	ID string
	// Role or Group names what changes; exactly one is set.
	Role  string
	Group string
	// Remove revokes the role or leaves the group; otherwise it is granted or joined.
	Remove bool
}

// ChangeMembership records the change; only admins may. Granting what is held and
// removing what is not are no-ops; an admin may not revoke their own admin role.
func (s *Service) ChangeMembership(ctx context.Context, c ChangeMembership) (PrincipalResult, error) {
	if (c.Role == "") == (c.Group == "") {
		return PrincipalResult{}, domain.FieldError("required", "role", "name either a role or a group")
	}
	return s.onPrincipal(ctx, c.ID, c.Request, func(a principal.Actor, at time.Time) principal.Command {
		switch {
		case c.Role != "" && c.Remove:
			return principal.RevokeRole{Role: c.Role, By: a, At: at}
		case c.Role != "":
			return principal.GrantRole{Role: c.Role, By: a, At: at}
		case c.Remove:
			return principal.LeaveGroup{Group: c.Group, By: a, At: at}
		}
		return principal.JoinGroup{Group: c.Group, By: a, At: at}
	})
}

// SetPrincipalEnabled disables or enables a principal.
type SetPrincipalEnabled struct {
	Request
	ID      string
	Enabled bool
	Reason  string
}

// SetPrincipalEnabled records the change; only admins may, and not on themselves. A
// disabled principal's tokens stop authenticating and routing skips it.
func (s *Service) SetPrincipalEnabled(ctx context.Context, c SetPrincipalEnabled) (PrincipalResult, error) {
	return s.onPrincipal(ctx, c.ID, c.Request, func(a principal.Actor, at time.Time) principal.Command {
		if c.Enabled {
			return principal.Enable{By: a, At: at}
		}
		return principal.Disable{Reason: c.Reason, By: a, At: at}
	})
}

// Principal loads a principal's current state from its stream, verifying its hash chain.
// Errors: NotFound when no such principal exists.
func (s *Service) Principal(ctx context.Context, id string) (Loaded[principal.State], error) {
	if !principal.ValidID(id) {
		return Loaded[principal.State]{}, domain.Errorf(domain.NotFound, "no-such-principal", "no principal %q", id)
	}
	l, err := Load(ctx, s.store, principalAggregate, principal.Stream(id))
	if err != nil {
		return l, err
	}
	if !l.State.Exists() {
		return l, domain.Errorf(domain.NotFound, "no-such-principal", "no principal %s", id)
	}
	return l, nil
}

// onPrincipal runs a command on an existing principal.
func (s *Service) onPrincipal(ctx context.Context, id string, r Request, command func(principal.Actor, time.Time) principal.Command) (PrincipalResult, error) {
	if !principal.ValidID(id) {
		return PrincipalResult{}, domain.Errorf(domain.NotFound, "no-such-principal", "no principal %q", id)
	}
	if r.Caller.ID == "" {
		return PrincipalResult{}, domain.Errorf(domain.Unauthenticated, "no-caller", "the request names no caller")
	}
	m := s.meta(r)
	cmd := command(principalActor(r.Caller), m.Time)
	return Execute(ctx, s.store, principalAggregate, principal.Stream(id), m, func(st principal.State) ([]principal.Event, error) {
		if !st.Exists() {
			return nil, domain.Errorf(domain.NotFound, "no-such-principal", "no principal %s", id)
		}
		return principal.Decide(st, cmd)
	})
}

func principalActor(c Caller) principal.Actor {
	return principal.Actor{ID: c.ID, Admin: c.Has(RoleAdmin)}
}

// TokenPrefix starts every token secret, so that leaked tokens are easy to recognise.
const TokenPrefix = "tlk_"

// IssueToken creates a bearer token for a principal.
type IssueToken struct {
	Request
	ID    string
	Label string
	// ExpiresAt ends the token's validity; zero means it never expires.
	ExpiresAt time.Time
}

// IssuedToken is a new token: its secret, shown this once, and the token as stored.
type IssuedToken struct {
	PrincipalResult
	Secret string
	Token  principal.Token
}

// IssueToken generates a random secret, records its hash and returns the secret. Admins
// may issue tokens to anyone, principals to themselves. The token id derives from the
// command id: retrying a command that succeeded is a Conflict "token-issued", since the
// secret exists nowhere any more.
func (s *Service) IssueToken(ctx context.Context, c IssueToken) (IssuedToken, error) {
	secret, err := newSecret()
	if err != nil {
		return IssuedToken{}, err
	}
	if c.CommandID == uuid.Nil {
		c.CommandID = uuid.New()
	}
	tokenID := uuid.NewSHA1(tokenNamespace, c.CommandID[:]).String()
	hash := principal.HashToken(secret)
	res, err := s.onPrincipal(ctx, c.ID, c.Request, func(a principal.Actor, at time.Time) principal.Command {
		return principal.IssueToken{TokenID: tokenID, Hash: hash, Label: c.Label, ExpiresAt: c.ExpiresAt, By: a, At: at}
	})
	if err != nil {
		return IssuedToken{}, err
	}
	if res.Replayed {
		return IssuedToken{}, domain.Errorf(domain.Conflict, "token-issued", "token %s was already issued by this request; its secret was shown once and cannot be shown again", tokenID)
	}
	tok, _ := res.State.Token(tokenID)
	return IssuedToken{PrincipalResult: res, Secret: secret, Token: tok}, nil
}

// RevokeToken ends a token.
type RevokeToken struct {
	Request
	ID      string
	TokenID string
}

// RevokeToken records the revocation. Admins may revoke any token, principals their own;
// revoking twice is a no-op and an unknown token is NotFound.
func (s *Service) RevokeToken(ctx context.Context, c RevokeToken) (PrincipalResult, error) {
	return s.onPrincipal(ctx, c.ID, c.Request, func(a principal.Actor, at time.Time) principal.Command {
		return principal.RevokeToken{TokenID: c.TokenID, By: a, At: at}
	})
}

// tokenNamespace is the UUIDv5 namespace of token ids derived from command ids.
var tokenNamespace = uuid.MustParse("8f6f3c1e-3b9a-4f0e-a7d5-6c1b2e9d4a70")

func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("commands: token secret: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
