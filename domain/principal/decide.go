package principal

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ticketledger/ticketledger/domain"
)

// Actor is who issues a principal command.
type Actor struct {
	ID string
	// Admin is set when the actor holds RoleAdmin.
	Admin bool
}

// Command is a principal command; the set is closed: the types in this file. Every
// command carries its actor (By) and time (At).
type Command interface{ isCommand() }

// Create asks to open a principal.
type Create struct {
	ID         string
	Kind       Kind
	Name       string
	System     string
	Department string
	Attributes map[string]string
	Roles      []string
	Groups     []string
	By         Actor
	At         time.Time
}

// ChangeProfile asks to replace the principal's name, department and attributes.
type ChangeProfile struct {
	Name       string
	Department string
	Attributes map[string]string
	By         Actor
	At         time.Time
}

// GrantRole asks to give the principal Role.
type GrantRole struct {
	Role string
	By   Actor
	At   time.Time
}

// RevokeRole asks to take Role away.
type RevokeRole struct {
	Role string
	By   Actor
	At   time.Time
}

// JoinGroup asks to add the principal to Group.
type JoinGroup struct {
	Group string
	By    Actor
	At    time.Time
}

// LeaveGroup asks to remove the principal from Group.
type LeaveGroup struct {
	Group string
	By    Actor
	At    time.Time
}

// IssueToken asks to record a new token. The caller generates the secret and passes only
// its hash; TokenID is chosen by the caller (derived from the command id, so that a retry
// is recognised).
type IssueToken struct {
	TokenID   string
	Hash      string
	Label     string
	ExpiresAt time.Time
	By        Actor
	At        time.Time
}

// RevokeToken asks to end a token.
type RevokeToken struct {
	TokenID string
	By      Actor
	At      time.Time
}

// Disable asks to stop the principal authenticating and being routed tickets.
type Disable struct {
	Reason string
	By     Actor
	At     time.Time
}

// Enable asks to lift a Disable.
type Enable struct {
	By Actor
	At time.Time
}

func (Create) isCommand()        {}
func (ChangeProfile) isCommand() {}
func (GrantRole) isCommand()     {}
func (RevokeRole) isCommand()    {}
func (JoinGroup) isCommand()     {}
func (LeaveGroup) isCommand()    {}
func (IssueToken) isCommand()    {}
func (RevokeToken) isCommand()   {}
func (Disable) isCommand()       {}
func (Enable) isCommand()        {}

// Limits on what a principal carries.
const (
	MaxNameLength  = 200
	MaxAttributes  = 50
	MaxValueLength = 500
	MaxTokens      = 100
)

// Decide returns the events cmd produces on s, or a *domain.Error. The rules:
//   - only admins change principals (Forbidden "not-admin"), except that principals may
//     issue and revoke their own tokens;
//   - a command on a principal that was never created is NotFound "no-such-principal";
//   - creating a principal that exists with the same terms is a no-op, with other terms a
//     Conflict "principal-exists"; ids, roles, groups, systems and attribute names must be
//     well formed (Invalid, with the offending field); a service names its system, a user
//     does not;
//   - granting a role held, revoking one not held, joining a group joined, leaving one not
//     joined, revoking a revoked token, disabling a disabled principal and enabling an
//     enabled one are no-ops;
//   - an admin may not revoke their own admin role nor disable themselves (Conflict
//     "self-lockout");
//   - a token is issued to an enabled principal only (Conflict "principal-disabled"), with
//     a hex SHA-256 hash and an expiry after its issue; a token id already used is a
//     Conflict "token-issued" (a token's secret is shown once, so a retried issue cannot
//     show it again); an unknown token is NotFound "no-such-token".
func Decide(s State, cmd Command) ([]Event, error) {
	if c, ok := cmd.(Create); ok {
		return decideCreate(s, c)
	}
	by, self, err := actorOf(cmd)
	if err != nil {
		return nil, err
	}
	if !s.Exists() {
		return nil, domain.Errorf(domain.NotFound, "no-such-principal", "the principal does not exist")
	}
	if !by.Admin && !(self && by.ID == s.ID) {
		return nil, domain.Errorf(domain.Forbidden, "not-admin", "only admins may change principal %s", s.ID)
	}
	switch c := cmd.(type) {
	case ChangeProfile:
		if err := checkProfile(c.Name, c.Department, c.Attributes); err != nil {
			return nil, err
		}
		attrs := emptyNil(c.Attributes)
		if c.Name == s.Name && c.Department == s.Department && maps.Equal(attrs, emptyNil(s.Attributes)) {
			return nil, nil
		}
		return []Event{&ProfileChanged{Name: c.Name, Department: c.Department, Attributes: attrs, By: by.ID, At: c.At.UTC()}}, nil
	case GrantRole:
		if !ValidSlug(c.Role) {
			return nil, domain.FieldError("invalid", "role", "a role is a slug of lower-case letters, digits, '_' and '-'")
		}
		if s.Has(c.Role) {
			return nil, nil
		}
		return []Event{&RoleGranted{Role: c.Role, By: by.ID, At: c.At.UTC()}}, nil
	case RevokeRole:
		if !s.Has(c.Role) {
			return nil, nil
		}
		if c.Role == RoleAdmin && by.ID == s.ID {
			return nil, domain.Errorf(domain.Conflict, "self-lockout", "admins may not revoke their own admin role")
		}
		return []Event{&RoleRevoked{Role: c.Role, By: by.ID, At: c.At.UTC()}}, nil
	case JoinGroup:
		if !ValidSlug(c.Group) {
			return nil, domain.FieldError("invalid", "group", "a group is a slug of lower-case letters, digits, '_' and '-'")
		}
		if s.InGroup(c.Group) {
			return nil, nil
		}
		return []Event{&GroupJoined{Group: c.Group, By: by.ID, At: c.At.UTC()}}, nil
	case LeaveGroup:
		if !s.InGroup(c.Group) {
			return nil, nil
		}
		return []Event{&GroupLeft{Group: c.Group, By: by.ID, At: c.At.UTC()}}, nil
	case IssueToken:
		return decideIssue(s, c, by)
	case RevokeToken:
		t, ok := s.Token(c.TokenID)
		if !ok {
			return nil, domain.Errorf(domain.NotFound, "no-such-token", "principal %s has no token %s", s.ID, c.TokenID)
		}
		if !t.RevokedAt.IsZero() {
			return nil, nil
		}
		return []Event{&TokenRevoked{TokenID: t.ID, By: by.ID, At: c.At.UTC()}}, nil
	case Disable:
		if s.Disabled {
			return nil, nil
		}
		if by.ID == s.ID {
			return nil, domain.Errorf(domain.Conflict, "self-lockout", "principals may not disable themselves")
		}
		if !domain.StorableText(c.Reason) {
			return nil, domain.FieldError("invalid-text", "reason", "a reason is UTF-8 text without the NUL character (U+0000)")
		}
		return []Event{&Disabled{Reason: c.Reason, By: by.ID, At: c.At.UTC()}}, nil
	case Enable:
		if !s.Disabled {
			return nil, nil
		}
		return []Event{&Enabled{By: by.ID, At: c.At.UTC()}}, nil
	}
	return nil, domain.Errorf(domain.Invalid, "unknown-command", "unknown principal command %T", cmd)
}

// actorOf returns the actor of cmd and whether cmd is one a principal may issue for
// themselves.
func actorOf(cmd Command) (Actor, bool, error) {
	switch c := cmd.(type) {
	case ChangeProfile:
		return c.By, false, nil
	case GrantRole:
		return c.By, false, nil
	case RevokeRole:
		return c.By, false, nil
	case JoinGroup:
		return c.By, false, nil
	case LeaveGroup:
		return c.By, false, nil
	case IssueToken:
		return c.By, true, nil
	case RevokeToken:
		return c.By, true, nil
	case Disable:
		return c.By, false, nil
	case Enable:
		return c.By, false, nil
	}
	return Actor{}, false, domain.Errorf(domain.Invalid, "unknown-command", "unknown principal command %T", cmd)
}

func decideCreate(s State, c Create) ([]Event, error) {
	if !c.By.Admin {
		return nil, domain.Errorf(domain.Forbidden, "not-admin", "only admins may create principals")
	}
	if !ValidID(c.ID) {
		return nil, domain.FieldError("invalid", "id", "a principal id is 1 to 128 letters, digits, '.', '_', '@' or '-'")
	}
	switch c.Kind {
	case User:
		if c.System != "" {
			return nil, domain.FieldError("invalid", "system", "only service principals speak for a system")
		}
	case Service:
		if !ValidSlug(c.System) {
			return nil, domain.FieldError("required", "system", "a service principal names the system it speaks for, as a slug")
		}
	default:
		return nil, domain.FieldError("invalid", "kind", "kind is %q or %q", User, Service)
	}
	if err := checkProfile(c.Name, c.Department, c.Attributes); err != nil {
		return nil, err
	}
	for i, r := range c.Roles {
		if !ValidSlug(r) {
			return nil, domain.FieldError("invalid", fmt.Sprintf("roles[%d]", i), "a role is a slug of lower-case letters, digits, '_' and '-'")
		}
	}
	for i, g := range c.Groups {
		if !ValidSlug(g) {
			return nil, domain.FieldError("invalid", fmt.Sprintf("groups[%d]", i), "a group is a slug of lower-case letters, digits, '_' and '-'")
		}
	}
	e := &Created{ID: c.ID, Kind: c.Kind, Name: c.Name, System: c.System, Department: c.Department,
		Attributes: emptyNil(c.Attributes), Roles: normalise(c.Roles), Groups: normalise(c.Groups), By: c.By.ID, At: c.At.UTC()}
	if s.Exists() {
		if s.Kind == e.Kind && s.Name == e.Name && s.System == e.System && s.Department == e.Department &&
			maps.Equal(emptyNil(s.Attributes), e.Attributes) && slices.Equal(s.Roles, e.Roles) && slices.Equal(s.Groups, e.Groups) {
			return nil, nil
		}
		return nil, domain.Errorf(domain.Conflict, "principal-exists", "principal %s already exists", c.ID)
	}
	return []Event{e}, nil
}

func decideIssue(s State, c IssueToken, by Actor) ([]Event, error) {
	if s.Disabled {
		return nil, domain.Errorf(domain.Conflict, "principal-disabled", "principal %s is disabled", s.ID)
	}
	switch {
	case c.TokenID == "":
		return nil, domain.FieldError("required", "token_id", "a token needs an id")
	case !hashPattern.MatchString(c.Hash):
		return nil, domain.FieldError("invalid", "hash", "a token hash is a lower-case hex SHA-256")
	case len(c.Label) > MaxNameLength:
		return nil, domain.FieldError("too-long", "label", "a label has at most %d bytes", MaxNameLength)
	case !domain.StorableText(c.Label):
		return nil, domain.FieldError("invalid-text", "label", "a label is UTF-8 text without the NUL character (U+0000)")
	case !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(c.At):
		return nil, domain.FieldError("past-expiry", "expires_at", "the token would expire before it is issued")
	}
	if _, ok := s.Token(c.TokenID); ok {
		return nil, domain.Errorf(domain.Conflict, "token-issued", "token %s was already issued; its secret was shown once", c.TokenID)
	}
	if len(s.Tokens) >= MaxTokens {
		return nil, domain.Errorf(domain.Conflict, "too-many-tokens", "principal %s has %d tokens, the most allowed", s.ID, MaxTokens)
	}
	t := Token{ID: c.TokenID, Hash: c.Hash, Label: c.Label, IssuedAt: c.At.UTC(), IssuedBy: by.ID}
	if !c.ExpiresAt.IsZero() {
		t.ExpiresAt = c.ExpiresAt.UTC()
	}
	return []Event{&TokenIssued{Token: t}}, nil
}

func checkProfile(name, department string, attrs map[string]string) error {
	if !domain.StorableText(department) {
		return domain.FieldError("invalid-text", "department", "a department is UTF-8 text without the NUL character (U+0000)")
	}
	if len(name) > MaxNameLength {
		return domain.FieldError("too-long", "name", "a name has at most %d bytes", MaxNameLength)
	}
	if !domain.StorableText(name) {
		return domain.FieldError("invalid-text", "name", "a name is UTF-8 text without the NUL character (U+0000)")
	}
	if len(attrs) > MaxAttributes {
		return domain.FieldError("too-many", "attributes", "at most %d attributes", MaxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if !ValidSlug(k) {
			return domain.FieldError("invalid", "attributes."+k, "an attribute name is a slug of lower-case letters, digits, '_' and '-'")
		}
		if len(attrs[k]) > MaxValueLength {
			return domain.FieldError("too-long", "attributes."+k, "an attribute value has at most %d bytes", MaxValueLength)
		}
		if !domain.StorableText(attrs[k]) {
			return domain.FieldError("invalid-text", "attributes."+k, "an attribute value is UTF-8 text without the NUL character (U+0000)")
		}
	}
	return nil
}

func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
