package principal

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Event is a principal event; the set is closed: the types in this file.
type Event interface{ isEvent() }

// Created opens a principal.
type Created struct {
	ID         string            `json:"id"`
	Kind       Kind              `json:"kind"`
	Name       string            `json:"name,omitempty"`
	System     string            `json:"system,omitempty"`
	Department string            `json:"department,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Roles      []string          `json:"roles,omitempty"`
	Groups     []string          `json:"groups,omitempty"`
	By         string            `json:"by"`
	At         time.Time         `json:"at"`
}

// ProfileChanged replaces the principal's name, department and attributes.
type ProfileChanged struct {
	Name       string            `json:"name,omitempty"`
	Department string            `json:"department,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	By         string            `json:"by"`
	At         time.Time         `json:"at"`
}

// RoleGranted gives the principal a role.
type RoleGranted struct {
	Role string    `json:"role"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// RoleRevoked takes a role away.
type RoleRevoked struct {
	Role string    `json:"role"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// GroupJoined adds the principal to a group.
type GroupJoined struct {
	Group string    `json:"group"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// GroupLeft removes the principal from a group.
type GroupLeft struct {
	Group string    `json:"group"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// TokenIssued records a new bearer token by its hash.
type TokenIssued struct {
	Token Token `json:"token"`
}

// TokenRevoked ends a token before its expiry.
type TokenRevoked struct {
	TokenID string    `json:"token_id"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Disabled stops the principal authenticating and being routed tickets.
type Disabled struct {
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// Enabled lifts a Disabled.
type Enabled struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

func (*Created) isEvent()        {}
func (*ProfileChanged) isEvent() {}
func (*RoleGranted) isEvent()    {}
func (*RoleRevoked) isEvent()    {}
func (*GroupJoined) isEvent()    {}
func (*GroupLeft) isEvent()      {}
func (*TokenIssued) isEvent()    {}
func (*TokenRevoked) isEvent()   {}
func (*Disabled) isEvent()       {}
func (*Enabled) isEvent()        {}

// Event type names: a public contract, never renamed.
const (
	TypeCreated        = "principal.created"
	TypeProfileChanged = "principal.profile-changed"
	TypeRoleGranted    = "principal.role-granted"
	TypeRoleRevoked    = "principal.role-revoked"
	TypeGroupJoined    = "principal.group-joined"
	TypeGroupLeft      = "principal.group-left"
	TypeTokenIssued    = "principal.token-issued"
	TypeTokenRevoked   = "principal.token-revoked"
	TypeDisabled       = "principal.disabled"
	TypeEnabled        = "principal.enabled"
)

// SchemaVersion is the schema version of the event bodies defined here.
const SchemaVersion = 1

// TypeName returns the stable type name of e, or "" for a value outside the set.
func TypeName(e Event) string {
	switch e.(type) {
	case *Created:
		return TypeCreated
	case *ProfileChanged:
		return TypeProfileChanged
	case *RoleGranted:
		return TypeRoleGranted
	case *RoleRevoked:
		return TypeRoleRevoked
	case *GroupJoined:
		return TypeGroupJoined
	case *GroupLeft:
		return TypeGroupLeft
	case *TokenIssued:
		return TypeTokenIssued
	case *TokenRevoked:
		return TypeTokenRevoked
	case *Disabled:
		return TypeDisabled
	case *Enabled:
		return TypeEnabled
	}
	return ""
}

// Encode returns the stored form of e: its type name and JSON body.
func Encode(e Event) (string, []byte, error) {
	typ := TypeName(e)
	if typ == "" {
		return "", nil, fmt.Errorf("principal: unknown event %T", e)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("principal: encode %s: %w", typ, err)
	}
	return typ, b, nil
}

// Decode reads a stored event back. Errors: an unknown type name or a body that is not the
// type's JSON.
func Decode(eventType string, data []byte) (Event, error) {
	var e Event
	switch eventType {
	case TypeCreated:
		e = &Created{}
	case TypeProfileChanged:
		e = &ProfileChanged{}
	case TypeRoleGranted:
		e = &RoleGranted{}
	case TypeRoleRevoked:
		e = &RoleRevoked{}
	case TypeGroupJoined:
		e = &GroupJoined{}
	case TypeGroupLeft:
		e = &GroupLeft{}
	case TypeTokenIssued:
		e = &TokenIssued{}
	case TypeTokenRevoked:
		e = &TokenRevoked{}
	case TypeDisabled:
		e = &Disabled{}
	case TypeEnabled:
		e = &Enabled{}
	default:
		return nil, fmt.Errorf("principal: unknown event type %q", eventType)
	}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("principal: decode %s: %w", eventType, err)
	}
	return e, nil
}

// Evolve returns the state after e. It never modifies s's slices or maps in place.
func Evolve(s State, e Event) State {
	s = s.clone()
	switch e := e.(type) {
	case *Created:
		s = State{ID: e.ID, Kind: e.Kind, Name: e.Name, System: e.System, Department: e.Department,
			Attributes: e.Attributes, Roles: normalise(e.Roles), Groups: normalise(e.Groups), CreatedAt: e.At, CreatedBy: e.By}
	case *ProfileChanged:
		s.Name, s.Department, s.Attributes = e.Name, e.Department, e.Attributes
	case *RoleGranted:
		s.Roles = normalise(append(s.Roles, e.Role))
	case *RoleRevoked:
		s.Roles = normalise(slices.DeleteFunc(s.Roles, func(r string) bool { return r == e.Role }))
	case *GroupJoined:
		s.Groups = normalise(append(s.Groups, e.Group))
	case *GroupLeft:
		s.Groups = normalise(slices.DeleteFunc(s.Groups, func(g string) bool { return g == e.Group }))
	case *TokenIssued:
		s.Tokens = append(s.Tokens, e.Token)
	case *TokenRevoked:
		for i := range s.Tokens {
			if s.Tokens[i].ID == e.TokenID && s.Tokens[i].RevokedAt.IsZero() {
				s.Tokens[i].RevokedAt, s.Tokens[i].RevokedBy = e.At, e.By
			}
		}
	case *Disabled:
		s.Disabled = true
	case *Enabled:
		s.Disabled = false
	}
	return s
}
