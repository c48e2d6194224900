package process

import (
	"time"

	"github.com/expr-lang/expr/vm"
)

// Mode is how the handlers of a node reach the node's decision.
type Mode string

// The node modes.
const (
	// ModeOneOf (或签): the first handler to decide decides for the node.
	ModeOneOf Mode = "one_of"
	// ModeAllOf (会签): every handler must approve, in any order; one rejection rejects.
	ModeAllOf Mode = "all_of"
	// ModeSequential: every handler must approve, one after another in the order of
	// NodePlan.Handlers; one rejection rejects.
	ModeSequential Mode = "sequential"
)

func (m Mode) known() bool { return m == ModeOneOf || m == ModeAllOf || m == ModeSequential }

// HandlerKind says where a node's handlers (or CC recipients) come from.
type HandlerKind string

// The handler kinds.
const (
	// HandlerUser is one principal, named in Handler.Value.
	HandlerUser HandlerKind = "user"
	// HandlerRole is every member of the role in Handler.Value, per the Directory.
	HandlerRole HandlerKind = "role"
	// HandlerGroup is every member of the group in Handler.Value, per the Directory.
	HandlerGroup HandlerKind = "group"
	// HandlerField is the principal(s) held by the ticket's user or user_list field named
	// in Handler.Value: the business system names the owner.
	HandlerField HandlerKind = "field"
	// HandlerSubmitter is the ticket's submitter.
	HandlerSubmitter HandlerKind = "submitter"
	// HandlerChosen is the approver(s) the submitter picks at submission, at most
	// Handler.Max of them, restricted to members of Handler.Role or Handler.Group when
	// either is set. Not allowed for CC.
	HandlerChosen HandlerKind = "chosen"
)

var handlerKinds = []HandlerKind{HandlerUser, HandlerRole, HandlerGroup, HandlerField, HandlerSubmitter, HandlerChosen}

// LimitChosen is the most approvers a chosen handler may let the submitter pick.
const LimitChosen = 20

// Handler is one source of a node's handlers or CC recipients.
type Handler struct {
	Kind HandlerKind
	// Value is the user id, role, group or field name for those kinds; empty otherwise.
	Value string
	// Role and Group restrict the candidates of a chosen handler (at most one is set).
	Role  string
	Group string
	// Max is how many approvers a chosen handler lets the submitter pick (at least 1).
	Max int
}

// SLA is a time limit: the work is due Due after it starts, and a reminder is due Remind
// before that. Zero durations mean none.
type SLA struct {
	Due    time.Duration
	Remind time.Duration
}

// IsZero reports whether the SLA sets nothing.
func (s SLA) IsZero() bool { return s.Due == 0 && s.Remind == 0 }

// Settings are a process's optional ticket-wide settings.
type Settings struct {
	// UrgeInterval is the least time between two urges (催办) of the same task; zero
	// leaves it to the caller's default.
	UrgeInterval time.Duration
	// SLA limits the whole ticket, from submission to the final decision.
	SLA SLA
	// NodeSLA applies to every node that sets no SLA of its own.
	NodeSLA SLA
}

// RejectEnd is the reject target that ends the ticket as rejected; it is the default.
const RejectEnd = "end"

// EmptyPolicy says what routing does with an applicable node whose handlers resolve to
// nobody.
type EmptyPolicy string

// The empty policies.
const (
	// EmptyFail makes routing fail with a problem naming the node; the default.
	EmptyFail EmptyPolicy = "fail"
	// EmptySkip skips the node.
	EmptySkip EmptyPolicy = "skip"
)

// Node is one approval step of a process. Nodes returned by a Definition are copies;
// their slices must not be modified.
type Node struct {
	Key         string
	Name        string
	Description string
	// Handlers are the sources of the node's handlers, in order; Mode says how they decide.
	Handlers []Handler
	Mode     Mode
	// When is the node's condition in expr syntax; empty means the node always applies.
	When string
	// Visible lists the fields the node's handlers may see, in field order: every field
	// when the document gives no visible list. Editable lists those they may change, a
	// subset of Visible (none unless given).
	Visible  []string
	Editable []string
	// SLA is the node's own time limit; zero means Settings.NodeSLA.
	SLA SLA
	// CC are the sources of principals notified when the node is reached.
	CC []Handler
	// Reject is where a rejection at this node goes: RejectEnd, or the key of an earlier
	// node to which the ticket returns.
	Reject string
	// Empty is what routing does when the handlers resolve to nobody.
	Empty EmptyPolicy

	visibleGiven bool
	condition    *vm.Program
}
