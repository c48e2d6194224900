package commands

import (
	"context"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
)

// delegationAggregate folds a principal's delegation stream.
var delegationAggregate = Aggregate[delegation.State, delegation.Event]{
	Codec:   Codec[delegation.Event]{Encode: delegation.Encode, Decode: delegation.Decode, Schema: 1},
	Initial: func() delegation.State { return delegation.State{} },
	Evolve:  delegation.Evolve,
	Chained: true,
}

// GrantDelegation lets Delegate act for Principal over a period (协同).
type GrantDelegation struct {
	Request
	// GrantID names the grant; empty means the command id.
	GrantID   string
	Principal string
	Delegate  string
	From      time.Time
	// Until ends the period (exclusive); zero means until revoked.
	Until     time.Time
	Processes []string
	Reason    string
}

// GrantDelegation records a delegation grant. The principal may grant for themselves, an
// admin for anyone. Granting the same grant id again with the same terms is a no-op.
// Errors are *domain.Error values from the delegation decider, or event-store errors.
func (s *Service) GrantDelegation(ctx context.Context, c GrantDelegation) (Result[delegation.State], error) {
	m := s.meta(c.Request)
	if c.Principal == "" {
		return Result[delegation.State]{}, domain.FieldError("required", "principal", "name the principal who delegates")
	}
	if err := s.checkUser(c.Delegate, "delegate"); err != nil {
		return Result[delegation.State]{}, err
	}
	id := c.GrantID
	if id == "" {
		id = m.CommandID.String()
	}
	from := c.From
	if from.IsZero() {
		from = m.Time
	}
	cmd := delegation.GrantCmd{ID: id, Principal: c.Principal, Delegate: c.Delegate, From: from, Until: c.Until,
		Processes: c.Processes, Reason: c.Reason, Actor: c.Caller.ID, AsAdmin: c.Caller.Has(RoleAdmin), At: m.Time}
	return Execute(ctx, s.store, delegationAggregate, delegation.Stream(c.Principal), m,
		func(st delegation.State) ([]delegation.Event, error) { return delegation.Decide(st, cmd) })
}

// RevokeDelegation ends a grant.
type RevokeDelegation struct {
	Request
	Principal string
	GrantID   string
}

// RevokeDelegation revokes a grant of Principal's. The principal, the delegate or an admin
// may revoke; revoking twice is a no-op.
func (s *Service) RevokeDelegation(ctx context.Context, c RevokeDelegation) (Result[delegation.State], error) {
	m := s.meta(c.Request)
	cmd := delegation.RevokeCmd{GrantID: c.GrantID, Actor: c.Caller.ID, AsAdmin: c.Caller.Has(RoleAdmin), At: m.Time}
	return Execute(ctx, s.store, delegationAggregate, delegation.Stream(c.Principal), m,
		func(st delegation.State) ([]delegation.Event, error) { return delegation.Decide(st, cmd) })
}

// Delegations returns Principal's grants as their stream holds them.
func (s *Service) Delegations(ctx context.Context, principal string) (delegation.State, error) {
	l, err := Load(ctx, s.store, delegationAggregate, delegation.Stream(principal))
	return l.State, err
}
