package delegation

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/ticketledger/ticketledger/domain"
)

// Stream returns the name of the stream holding principal's grants.
func Stream(principal string) string { return "delegation-" + principal }

// Grant is the right of Delegate to act for Principal.
type Grant struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	Delegate  string    `json:"delegate"`
	From      time.Time `json:"from"`
	// Until is the end of the period, exclusive; zero means until revoked.
	Until time.Time `json:"until,omitzero"`
	// Processes limits the grant to these process keys; empty means every process.
	Processes []string  `json:"processes,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	GrantedBy string    `json:"granted_by"`
	GrantedAt time.Time `json:"granted_at"`
	// RevokedAt is when the grant was revoked; zero while it stands.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// ActiveAt reports whether the grant lets its delegate act at instant t for process.
func (g Grant) ActiveAt(process string, t time.Time) bool {
	if t.Before(g.From) || (!g.Until.IsZero() && !t.Before(g.Until)) {
		return false
	}
	if !g.RevokedAt.IsZero() && !t.Before(g.RevokedAt) {
		return false
	}
	return len(g.Processes) == 0 || slices.Contains(g.Processes, process)
}

// sameTerms reports whether g and h grant the same right.
func (g Grant) sameTerms(h Grant) bool {
	return g.Principal == h.Principal && g.Delegate == h.Delegate && g.From.Equal(h.From) &&
		g.Until.Equal(h.Until) && slices.Equal(g.Processes, h.Processes) && g.Reason == h.Reason
}

// State is a principal's grants, in the order they were made.
type State struct {
	Grants []Grant
}

// Find returns the grant with the given id.
func (s State) Find(id string) (Grant, bool) {
	for _, g := range s.Grants {
		if g.ID == id {
			return g, true
		}
	}
	return Grant{}, false
}

// Active returns a grant that lets delegate act for the state's principal on process at t.
func (s State) Active(delegate, process string, t time.Time) (Grant, bool) {
	for _, g := range s.Grants {
		if g.Delegate == delegate && g.ActiveAt(process, t) {
			return g, true
		}
	}
	return Grant{}, false
}

// ActiveGrants returns the grants standing at t, whatever their processes.
func (s State) ActiveGrants(t time.Time) []Grant {
	var out []Grant
	for _, g := range s.Grants {
		if t.Before(g.From) || (!g.Until.IsZero() && !t.Before(g.Until)) || (!g.RevokedAt.IsZero() && !t.Before(g.RevokedAt)) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// Event is a delegation event: *Granted or *Revoked.
type Event interface{ isEvent() }

// Granted records a new grant.
type Granted struct {
	Grant Grant `json:"grant"`
}

// Revoked records the end of a grant before its term.
type Revoked struct {
	GrantID   string    `json:"grant_id"`
	RevokedBy string    `json:"revoked_by"`
	RevokedAt time.Time `json:"revoked_at"`
}

func (*Granted) isEvent() {}
func (*Revoked) isEvent() {}

// Event type names: a public contract, never renamed.
const (
	TypeGranted = "delegation.granted"
	TypeRevoked = "delegation.revoked"
)

// Encode returns the stored form of e.
func Encode(e Event) (string, []byte, error) {
	var typ string
	switch e.(type) {
	case *Granted:
		typ = TypeGranted
	case *Revoked:
		typ = TypeRevoked
	default:
		return "", nil, fmt.Errorf("delegation: unknown event %T", e)
	}
	b, err := json.Marshal(e)
	return typ, b, err
}

// Decode reads a stored event back.
func Decode(eventType string, data []byte) (Event, error) {
	var e Event
	switch eventType {
	case TypeGranted:
		e = &Granted{}
	case TypeRevoked:
		e = &Revoked{}
	default:
		return nil, fmt.Errorf("delegation: unknown event type %q", eventType)
	}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("delegation: decode %s: %w", eventType, err)
	}
	return e, nil
}

// Evolve returns the state after e.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case *Granted:
		s.Grants = append(slices.Clone(s.Grants), e.Grant)
	case *Revoked:
		grants := slices.Clone(s.Grants)
		for i := range grants {
			if grants[i].ID == e.GrantID {
				grants[i].RevokedAt, grants[i].RevokedBy = e.RevokedAt, e.RevokedBy
			}
		}
		s.Grants = grants
	}
	return s
}

// Command is a delegation command: GrantCmd or RevokeCmd.
type Command interface{ isCommand() }

// GrantCmd asks to let Delegate act for Principal.
type GrantCmd struct {
	ID        string
	Principal string
	Delegate  string
	From      time.Time
	Until     time.Time
	Processes []string
	Reason    string
	// Actor issues the command; AsAdmin is true when the actor holds the admin role.
	Actor   string
	AsAdmin bool
	At      time.Time
}

// RevokeCmd asks to end a grant.
type RevokeCmd struct {
	GrantID string
	Actor   string
	AsAdmin bool
	At      time.Time
}

func (GrantCmd) isCommand()  {}
func (RevokeCmd) isCommand() {}

// Decide returns the events cmd produces on s, or a *domain.Error:
//   - grant: only the principal or an admin may grant (forbidden); the delegate must be
//     another principal, the period must end after it starts and after now (invalid); a
//     grant id reused with other terms is a conflict; the same grant again is a no-op;
//   - revoke: the principal, the delegate or an admin may revoke (forbidden otherwise); an
//     unknown grant is not found; revoking twice is a no-op.
func Decide(s State, cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case GrantCmd:
		return decideGrant(s, c)
	case RevokeCmd:
		return decideRevoke(s, c)
	}
	return nil, domain.Errorf(domain.Invalid, "unknown-command", "unknown delegation command %T", cmd)
}

// MaxReasonLength is the most characters a grant's reason may have.
const MaxReasonLength = 4000

func decideGrant(s State, c GrantCmd) ([]Event, error) {
	if c.Actor != c.Principal && !c.AsAdmin {
		return nil, domain.Errorf(domain.Forbidden, "not-principal", "only %s or an admin may appoint a delegate for %s", c.Principal, c.Principal)
	}
	switch {
	case c.ID == "":
		return nil, domain.FieldError("required", "id", "a grant needs an id")
	case c.Delegate == "":
		return nil, domain.FieldError("required", "delegate", "a grant needs a delegate")
	case c.Delegate == c.Principal:
		return nil, domain.FieldError("self-delegation", "delegate", "%s cannot delegate to themselves", c.Principal)
	case c.From.IsZero():
		return nil, domain.FieldError("required", "from", "a grant needs a start")
	case !c.Until.IsZero() && !c.Until.After(c.From):
		return nil, domain.FieldError("empty-period", "until", "the period must end after it starts")
	case !c.Until.IsZero() && !c.Until.After(c.At):
		return nil, domain.FieldError("past-period", "until", "the period has already ended")
	case utf8.RuneCountInString(c.Reason) > MaxReasonLength:
		return nil, domain.FieldError("too-long", "reason", "must be at most %d characters", MaxReasonLength)
	case !domain.StorableText(c.Reason):
		return nil, domain.FieldError("invalid-text", "reason", "must be UTF-8 text without the NUL character (U+0000)")
	}
	for i, p := range c.Processes {
		if p == "" {
			return nil, domain.FieldError("required", fmt.Sprintf("processes[%d]", i), "empty process key")
		}
	}
	g := Grant{
		ID: c.ID, Principal: c.Principal, Delegate: c.Delegate, From: c.From.UTC(), Reason: c.Reason,
		Processes: slices.Compact(slices.Sorted(slices.Values(c.Processes))), GrantedBy: c.Actor, GrantedAt: c.At.UTC(),
	}
	if !c.Until.IsZero() {
		g.Until = c.Until.UTC()
	}
	if len(g.Processes) == 0 {
		g.Processes = nil
	}
	if old, ok := s.Find(c.ID); ok {
		if old.sameTerms(g) {
			return nil, nil
		}
		return nil, domain.Errorf(domain.Conflict, "grant-id-taken", "grant %s already exists with other terms", c.ID)
	}
	return []Event{&Granted{Grant: g}}, nil
}

func decideRevoke(s State, c RevokeCmd) ([]Event, error) {
	g, ok := s.Find(c.GrantID)
	if !ok {
		return nil, domain.Errorf(domain.NotFound, "no-such-grant", "no grant %s", c.GrantID)
	}
	if c.Actor != g.Principal && c.Actor != g.Delegate && !c.AsAdmin {
		return nil, domain.Errorf(domain.Forbidden, "not-party", "only %s, %s or an admin may revoke grant %s", g.Principal, g.Delegate, g.ID)
	}
	if !g.RevokedAt.IsZero() {
		return nil, nil
	}
	return []Event{&Revoked{GrantID: g.ID, RevokedBy: c.Actor, RevokedAt: c.At.UTC()}}, nil
}
