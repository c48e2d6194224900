package principal

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"time"
)

// StreamPrefix starts the name of every principal stream.
const StreamPrefix = "principal-"

// Stream returns the name of the stream holding principal id's events.
func Stream(id string) string { return StreamPrefix + id }

// Kind is what a principal is.
type Kind string

// Principal kinds.
const (
	// User is a person: approver, submitter, auditor, administrator.
	User Kind = "user"
	// Service is a business system's client; it speaks for State.System.
	Service Kind = "service"
)

// Roles with authority in the API. Other roles are routing roles only.
const (
	RoleAdmin    = "admin"
	RoleDesigner = "process-designer"
	RoleApprover = "approver"
	RoleAuditor  = "auditor"
	RoleSystem   = "system"
)

// BuiltinRoles lists the roles that carry authority in the API, in a stable order.
func BuiltinRoles() []string {
	return []string{RoleAdmin, RoleDesigner, RoleApprover, RoleAuditor, RoleSystem}
}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)
	slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidID reports whether id may name a principal: 1 to 128 letters, digits, '.', '_',
// '@' or '-', starting with a letter or digit.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ValidSlug reports whether s may name a role, a group, a system or an attribute: 1 to 64
// lower-case letters, digits, '_' or '-', starting with a letter or digit.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// HashToken returns the lower-case hex SHA-256 of a token secret: the only form in which
// tokens are stored.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Token is a bearer token as stored: its hash, never its secret.
type Token struct {
	ID string `json:"id"`
	// Hash is HashToken of the secret.
	Hash  string `json:"hash"`
	Label string `json:"label,omitempty"`
	// ExpiresAt ends the token's validity (exclusive); zero means it never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	IssuedAt  time.Time `json:"issued_at"`
	IssuedBy  string    `json:"issued_by"`
	// RevokedAt is when the token was revoked; zero while it stands.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// ValidAt reports whether the token authenticates at instant t: issued, not expired and
// not revoked.
func (t Token) ValidAt(at time.Time) bool {
	if at.Before(t.IssuedAt) {
		return false
	}
	if !t.ExpiresAt.IsZero() && !at.Before(t.ExpiresAt) {
		return false
	}
	return t.RevokedAt.IsZero() || at.Before(t.RevokedAt)
}

// State is a principal as its events made it. The zero value is a principal that does not
// exist.
type State struct {
	ID   string
	Kind Kind
	Name string
	// System is the business system a service principal speaks for; empty for users.
	System     string
	Department string
	Attributes map[string]string
	// Roles and Groups are sorted and without duplicates.
	Roles    []string
	Groups   []string
	Disabled bool
	// Tokens are every token issued, in order of issue.
	Tokens    []Token
	CreatedAt time.Time
	CreatedBy string
}

// Exists reports whether the principal was created.
func (s State) Exists() bool { return s.ID != "" }

// Has reports whether the principal holds role.
func (s State) Has(role string) bool {
	_, ok := slices.BinarySearch(s.Roles, role)
	return ok
}

// InGroup reports whether the principal belongs to group.
func (s State) InGroup(group string) bool {
	_, ok := slices.BinarySearch(s.Groups, group)
	return ok
}

// Token returns the token with the given id.
func (s State) Token(id string) (Token, bool) {
	for _, t := range s.Tokens {
		if t.ID == id {
			return t, true
		}
	}
	return Token{}, false
}

// clone returns a copy of s sharing no slice or map with it.
func (s State) clone() State {
	s.Attributes = maps.Clone(s.Attributes)
	s.Roles = slices.Clone(s.Roles)
	s.Groups = slices.Clone(s.Groups)
	s.Tokens = slices.Clone(s.Tokens)
	return s
}

// normalise sorts and deduplicates a list of slugs; an empty list becomes nil.
func normalise(xs []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(xs)))
	if len(out) == 0 {
		return nil
	}
	return out
}
