package ticket

import (
	"encoding/json"
	"time"

	"github.com/ticketledger/ticketledger/domain/delegation"
)

// Definition is what the decider needs of the process version a ticket is pinned to.
// Implementations are pure: the same inputs always give the same answers.
type Definition interface {
	// Key and Version identify the pinned process version.
	Key() string
	Version() int
	// ValidateFields checks a whole set of field values against the field schema and
	// returns them normalised; its error lists every problem with the field's path.
	ValidateFields(fields json.RawMessage) (Fields, error)
	// Route plans the nodes that apply to the fields and the submitter, in order, with
	// their handlers resolved. A route may be empty when no node's condition holds.
	Route(fields Fields, submitter Submitter) ([]Node, error)
	// UrgeInterval is the least time between two urges of the same node.
	UrgeInterval() time.Duration
	// System is the business system the process serves, which its tickets belong to;
	// empty: any.
	System() string
	// TicketSLA limits the whole ticket: due Due after submission, with a reminder
	// Remind before that; zero Due sets no limit.
	TicketSLA() (due, remind time.Duration)
}

// Submitter is who a ticket is submitted for. What conditions read of them (department,
// roles, attributes) comes from the directory the definition is bound to.
type Submitter struct {
	ID string
	// Picked are the approvers the submitter chose, per node key, for nodes whose
	// handlers the submitter picks.
	Picked map[string][]string
}

// Actor is the principal issuing a command.
type Actor struct {
	ID string
	// OnBehalfOf is the principal the actor acts for as their delegate; Grants are that
	// principal's delegation grants, which must let the actor act on this process now.
	OnBehalfOf string
	Grants     delegation.State
	// System is set when the actor is a business system's service principal.
	System string
	// Admin is set when the actor holds the admin role.
	Admin bool
	// Scheduler is set for the SLA scheduler, the only issuer of reminders.
	Scheduler bool
}

// Principal returns whom the actor acts as: OnBehalfOf when set, else the actor.
func (a Actor) Principal() string {
	if a.OnBehalfOf != "" {
		return a.OnBehalfOf
	}
	return a.ID
}

// Command is a ticket command; the set is closed: the types in this file.
type Command interface{ isCommand() }

// Submit opens a ticket under a pinned process version. Submitting again with the same
// ticket id and the same business key and fields is a no-op.
type Submit struct {
	TicketID    string
	Definition  Definition
	Fields      json.RawMessage
	BusinessKey string
	Submitter   Submitter
	Title       string
	CC          []string
	Watchers    []string
	By          Actor
	At          time.Time
}

// Approve approves the actor's pending task (TaskID, when given, names it). Changes edit
// fields the node may edit; they need Definition to be validated.
type Approve struct {
	TaskID     string
	Comment    string
	Changes    json.RawMessage
	Definition Definition
	By         Actor
	At         time.Time
}

// Reject rejects the actor's pending task.
type Reject struct {
	TaskID  string
	Comment string
	By      Actor
	At      time.Time
}

// Return sends the ticket back from the actor's pending task: To is empty for the previous
// node (the submitter when there is none), ToSubmitter, or the key of an earlier node.
type Return struct {
	TaskID  string
	To      string
	Comment string
	By      Actor
	At      time.Time
}

// Resubmit sends a returned ticket on again with changed fields; Definition is the
// pinned version, to validate them and plan the route again.
type Resubmit struct {
	Definition Definition
	Changes    json.RawMessage
	Submitter  Submitter
	Comment    string
	By         Actor
	At         time.Time
}

// Withdraw ends the ticket at the submitter's request.
type Withdraw struct {
	Reason string
	By     Actor
	At     time.Time
}

// Transfer hands the actor's pending task to another user (转交). An admin may also
// reassign a pending task someone else holds, named by TaskID: the way work is taken from
// a handler who has left or cannot act (离职交接).
type Transfer struct {
	TaskID  string
	To      string
	Comment string
	By      Actor
	At      time.Time
}

// Handover moves what From holds on the ticket to To, as an admin (离职交接): From's
// pending task at the active node (reassigned, as an admin's Transfer), their waiting
// turns there, and their place among the handlers of every node of the route, so that a
// node reached or returned to later goes to To.
type Handover struct {
	From    string
	To      string
	Comment string
	By      Actor
	At      time.Time
}

// AddSigner adds a signer in a node of their own before or after the active node (加签).
type AddSigner struct {
	TaskID  string
	Signer  string
	Where   string
	Comment string
	By      Actor
	At      time.Time
}

// Comment adds a comment to the ticket.
type Comment struct {
	Text string
	By   Actor
	At   time.Time
}

// CC copies users in on the ticket.
type CC struct {
	Users []string
	By    Actor
	At    time.Time
}

// Urge asks the active node's handlers to hurry (催办).
type Urge struct {
	Comment string
	// Interval is the least time between two urges of the same node (the process's
	// setting, or a system default).
	Interval time.Duration
	By       Actor
	At       time.Time
}

// Remind is the scheduler's SLA reminder for the active node, or with Whole for the whole
// ticket: DueSoon from the reminder time ahead of the due time, Overdue from the due
// time. A DueSoon reminder reached only once it is due records nothing; the Overdue one
// says more.
type Remind struct {
	Kind  string
	Whole bool
	By    Actor
	At    time.Time
}

// ReportExecution is the owning business system's report on executing the outcome.
type ReportExecution struct {
	Status string
	Detail string
	By     Actor
	At     time.Time
}

func (Submit) isCommand()          {}
func (Approve) isCommand()         {}
func (Reject) isCommand()          {}
func (Return) isCommand()          {}
func (Resubmit) isCommand()        {}
func (Withdraw) isCommand()        {}
func (Transfer) isCommand()        {}
func (Handover) isCommand()        {}
func (AddSigner) isCommand()       {}
func (Comment) isCommand()         {}
func (CC) isCommand()              {}
func (Urge) isCommand()            {}
func (Remind) isCommand()          {}
func (ReportExecution) isCommand() {}
