package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// Roles a caller may hold.
const (
	RoleAdmin    = "admin"
	RoleDesigner = "process-designer"
	RoleApprover = "approver"
	RoleAuditor  = "auditor"
	RoleSystem   = "system"
)

// Caller is the authenticated principal behind a command.
type Caller struct {
	ID string
	// System is the business system a service principal speaks for; empty for users.
	System string
	Roles  []string
	// OnBehalfOf is the principal the caller acts for as a delegate, if any.
	OnBehalfOf string
	// Scheduler marks the SLA scheduler.
	Scheduler bool
}

// Principal returns whom the caller acts as: OnBehalfOf when set, else the caller.
func (c Caller) Principal() string {
	if c.OnBehalfOf != "" {
		return c.OnBehalfOf
	}
	return c.ID
}

// Has reports whether the caller holds role.
func (c Caller) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Request is what every command carries besides its own fields.
type Request struct {
	// CommandID identifies the command: retrying with the same id never doubles an event.
	// A zero id is replaced by a random one (no idempotency).
	CommandID     uuid.UUID
	Caller        Caller
	CorrelationID string
	CausationID   string
	RequestID     string
}

// Service carries out ticketledger's commands over an event store. It is safe for
// concurrent use.
type Service struct {
	store       eventstore.Store
	definitions Definitions
	now         func() time.Time
	// urgeInterval applies when a process sets none.
	urgeInterval time.Duration
	// tickets caches the states of the tickets most recently handled.
	tickets *StateCache[ticket.State]
	// lookup finds a principal; nil takes any name (see WithPrincipals).
	lookup func(id string) (principal.State, bool)
}

// Definitions gives the process versions tickets are pinned to, with their handlers
// resolved through the directory.
type Definitions interface {
	// Latest returns the newest published version of the process. Errors: a NotFound
	// *domain.Error when the process has never been published.
	Latest(ctx context.Context, key string) (ticket.Definition, error)
	// Version returns one published version.
	Version(ctx context.Context, key string, version int) (ticket.Definition, error)
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithUrgeInterval sets the least time between two urges of a node for processes that set
// none (default one hour).
func WithUrgeInterval(d time.Duration) Option { return func(s *Service) { s.urgeInterval = d } }

// WithStateCache has the service keep the states of up to size tickets in memory between
// commands (see StateCache), instead of reading each command's stream anew (the default).
// Use it only with a store that reports AppendResult.Duplicate, as pgstore does: a retry
// of a command carried out through another process is recognised from that report.
func WithStateCache(size int) Option {
	return func(s *Service) { s.tickets = NewStateCache[ticket.State](size) }
}

// WithPrincipals has the service look principals up with get (PrincipalIndex.Get), so that
// a task is transferred, a signer added, a delegation granted and a ticket copied only to
// users who exist and are enabled: a task handed to anyone else would wait for a decision
// nobody can make, and a grant or a copy to a mistyped name would go nowhere, silently.
// Without it any name is taken.
func WithPrincipals(get func(id string) (principal.State, bool)) Option {
	return func(s *Service) { s.lookup = get }
}

// checkUser checks, with WithPrincipals, that id, named in field, is an enabled user (a
// task's new holder, a signer, a delegate, a copied user); an empty id is left to the
// domain (it is required there).
func (s *Service) checkUser(id, field string) error {
	if s.lookup == nil || id == "" {
		return nil
	}
	p, ok := s.lookup(id)
	switch {
	case !ok || !p.Exists():
		return domain.FieldError("unknown-user", field, "no user %s", id)
	case p.Kind != principal.User:
		return domain.FieldError("not-a-user", field, "%s is a %s principal, not a user", id, p.Kind)
	case p.Disabled:
		return domain.FieldError("disabled-user", field, "%s is disabled", id)
	}
	return nil
}

// CheckUser refuses an id that names no enabled user as checkUser does, for a request that
// names one user for several commands (a handover) before it issues any.
func (s *Service) CheckUser(id, field string) error {
	if id == "" {
		return domain.FieldError("required", field, "name a user")
	}
	return s.checkUser(id, field)
}

// checkUsers checks each of ids as checkUser does, naming field[i].
func (s *Service) checkUsers(ids []string, field string) error {
	for i, id := range ids {
		if err := s.checkUser(id, fmt.Sprintf("%s[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
}

// New returns a Service appending to store and reading process definitions from defs.
func New(store eventstore.Store, defs Definitions, opts ...Option) *Service {
	s := &Service{store: store, definitions: defs, now: time.Now, urgeInterval: time.Hour}
	for _, o := range opts {
		o(s)
	}
	return s
}

// meta turns a request into event metadata at the service's current time.
func (s *Service) meta(r Request) Meta {
	id := r.CommandID
	if id == uuid.Nil {
		id = uuid.New()
	}
	return Meta{
		CommandID: id, Actor: r.Caller.ID, OnBehalfOf: r.Caller.OnBehalfOf,
		CorrelationID: r.CorrelationID, CausationID: r.CausationID, Source: sourceOf(r.Caller),
		RequestID: r.RequestID, Time: s.now().UTC(),
	}
}

func sourceOf(c Caller) string {
	switch {
	case c.System != "":
		return c.System
	case c.Scheduler:
		return "scheduler"
	}
	return "user"
}

// actor builds the domain's view of the caller, loading the delegation grants of the
// principal the caller acts for.
func (s *Service) actor(ctx context.Context, c Caller) (ticket.Actor, error) {
	a := ticket.Actor{ID: c.ID, OnBehalfOf: c.OnBehalfOf, System: c.System, Admin: c.Has(RoleAdmin), Scheduler: c.Scheduler}
	if c.ID == "" {
		return a, domain.Errorf(domain.Unauthenticated, "no-caller", "the request names no caller")
	}
	if c.OnBehalfOf != "" && c.OnBehalfOf != c.ID {
		l, err := Load(ctx, s.store, delegationAggregate, delegation.Stream(c.OnBehalfOf))
		if err != nil {
			return a, fmt.Errorf("commands: load the delegations of %s: %w", c.OnBehalfOf, err)
		}
		a.Grants = l.State
	}
	return a, nil
}
