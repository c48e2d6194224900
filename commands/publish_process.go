package commands

import (
	"errors"

	"context"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
)

// PublishProcess publishes a process definition as the process's next version.
type PublishProcess struct {
	Request
	// Key is the process key; the document's key must match it.
	Key string
	// Source is the definition in YAML or JSON.
	Source []byte
}

// PublishProcess validates the definition and records it as the next version. Publishing
// a document identical to the newest version is a no-op. Only admins and process
// designers may publish (Forbidden); an invalid definition is Invalid with every problem
// and its path (the cause is a process.Problems).
func (s *Service) PublishProcess(ctx context.Context, c PublishProcess) (Result[process.State], error) {
	if !c.Caller.Has(RoleAdmin) && !c.Caller.Has(RoleDesigner) {
		return Result[process.State]{}, domain.Errorf(domain.Forbidden, "not-designer", "only admins and process designers may publish processes")
	}
	m := s.meta(c.Request)
	cmd := process.Publish{Key: c.Key, Source: c.Source, At: m.Time}
	return Execute(ctx, s.store, processAggregate, process.StreamName(c.Key), m, func(st process.State) ([]process.Event, error) {
		evs, err := process.Decide(st, cmd)
		if err != nil {
			return nil, invalidDefinition(err)
		}
		return evs, nil
	})
}

// RetireProcess stops a process taking new tickets; running tickets go on.
type RetireProcess struct {
	Request
	Key    string
	Reason string
}

// RetireProcess records the retirement. Only admins and process designers may retire.
func (s *Service) RetireProcess(ctx context.Context, c RetireProcess) (Result[process.State], error) {
	if !c.Caller.Has(RoleAdmin) && !c.Caller.Has(RoleDesigner) {
		return Result[process.State]{}, domain.Errorf(domain.Forbidden, "not-designer", "only admins and process designers may retire processes")
	}
	m := s.meta(c.Request)
	cmd := process.Retire{Key: c.Key, Reason: c.Reason, At: m.Time}
	return Execute(ctx, s.store, processAggregate, process.StreamName(c.Key), m, func(st process.State) ([]process.Event, error) {
		evs, err := process.Decide(st, cmd)
		if err != nil {
			return nil, invalidDefinition(err)
		}
		return evs, nil
	})
}

// invalidDefinition maps the process decider's errors to domain errors.
func invalidDefinition(err error) error {
	if ps := process.AsProblems(err); ps != nil {
		return &domain.Error{Kind: domain.Invalid, Code: "invalid-definition", Message: ps.Error(), Cause: err}
	}
	if errors.Is(err, process.ErrNotPublished) {
		return &domain.Error{Kind: domain.NotFound, Code: "no-such-process", Message: err.Error(), Cause: err}
	}
	return &domain.Error{Kind: domain.Invalid, Code: "invalid-command", Message: err.Error(), Cause: err}
}
