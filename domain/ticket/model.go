package ticket

import (
	"encoding/json"
	"slices"
	"time"
)

// Stream returns the name of the stream holding ticket id's events.
func Stream(id string) string { return "ticket-" + id }

// Status is where a ticket stands.
type Status string

// Ticket statuses. Approved, Rejected and Withdrawn are final.
const (
	StatusNone       Status = ""
	StatusInProgress Status = "in_progress"
	StatusReturned   Status = "returned"
	StatusApproved   Status = "approved"
	StatusRejected   Status = "rejected"
	StatusWithdrawn  Status = "withdrawn"
)

// Final reports whether s is a final outcome.
func (s Status) Final() bool {
	return s == StatusApproved || s == StatusRejected || s == StatusWithdrawn
}

// Mode is how a node's handlers decide.
type Mode string

// Node modes.
const (
	// OneOf (或签): the first handler to approve or reject decides for the node.
	OneOf Mode = "one_of"
	// AllOf (会签): every handler must approve; one rejection rejects the node.
	AllOf Mode = "all_of"
	// Sequential: the handlers decide one after the other, in order; one rejection rejects.
	Sequential Mode = "sequential"
)

// Node is one step of a ticket's route as planned when it was submitted (or resubmitted),
// with its handlers resolved.
type Node struct {
	Key      string   `json:"key"`
	Name     string   `json:"name,omitempty"`
	Mode     Mode     `json:"mode"`
	Handlers []string `json:"handlers"`
	// Visible lists the fields the node's handlers see; nil means every field, and empty
	// none. It is written even when empty (nil as null), so that the two stay apart.
	Visible []string `json:"visible"`
	// Editable lists the fields the node's handlers may change when they approve.
	Editable []string `json:"editable,omitempty"`
	// DueAfter is the node's SLA, counted from its activation; 0 means none.
	DueAfter time.Duration `json:"due_after_ns,omitempty"`
	// RemindBefore is how long before the due time handlers are reminded.
	RemindBefore time.Duration `json:"remind_before_ns,omitempty"`
	// RejectTo is the key of the earlier node a rejection returns to; empty ends the ticket.
	RejectTo string `json:"reject_to,omitempty"`
	// CC are told when the node completes.
	CC []string `json:"cc,omitempty"`
	// AddedBy is set on nodes inserted by an add-signer decision.
	AddedBy string `json:"added_by,omitempty"`
}

// Sees reports whether the node's handlers see field.
func (n Node) Sees(field string) bool {
	return n.Visible == nil || slices.Contains(n.Visible, field)
}

// TaskStatus is where one handler's task stands.
type TaskStatus string

// Task statuses.
const (
	// TaskWaiting: a sequential task whose turn has not come.
	TaskWaiting     TaskStatus = "waiting"
	TaskPending     TaskStatus = "pending"
	TaskApproved    TaskStatus = "approved"
	TaskRejected    TaskStatus = "rejected"
	TaskReturned    TaskStatus = "returned"
	TaskTransferred TaskStatus = "transferred"
	// TaskCancelled: the node ended (another handler of a one-of node decided, the ticket
	// was withdrawn) before this handler did.
	TaskCancelled TaskStatus = "cancelled"
)

// Task is one handler's share of a node activation.
type Task struct {
	ID       string     `json:"id"`
	Assignee string     `json:"assignee"`
	Status   TaskStatus `json:"status"`
	// DecidedBy is the principal who decided (the assignee or their delegate); OnBehalfOf
	// is the assignee when a delegate decided.
	DecidedBy  string    `json:"decided_by,omitempty"`
	OnBehalfOf string    `json:"on_behalf_of,omitempty"`
	DecidedAt  time.Time `json:"decided_at,omitzero"`
}

// Fields are a ticket's business fields, each a normalised JSON value.
type Fields map[string]json.RawMessage

// clone returns a copy of f.
func (f Fields) clone() Fields {
	out := make(Fields, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

// merge returns f with changes applied: a JSON null removes the field.
func (f Fields) merge(changes Fields) Fields {
	out := f.clone()
	for k, v := range changes {
		if string(v) == "null" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Only returns the fields of f that node n sees.
func (f Fields) Only(n Node) Fields {
	out := make(Fields)
	for k, v := range f {
		if n.Sees(k) {
			out[k] = v
		}
	}
	return out
}

// Execution is the business system's report of carrying out the final outcome.
type Execution struct {
	Status     string    `json:"status"`
	Detail     string    `json:"detail,omitempty"`
	ReportedBy string    `json:"reported_by"`
	At         time.Time `json:"at"`
}

// Execution statuses.
const (
	ExecutionSucceeded = "succeeded"
	ExecutionFailed    = "failed"
)

// State is a ticket as its events made it.
type State struct {
	ID             string
	Status         Status
	ProcessKey     string
	ProcessVersion int
	// System is the business system that owns the ticket and receives its outcome.
	System      string
	BusinessKey string
	Submitter   string
	// Picked are the approvers the submitter chose, per node key (see Submitted).
	Picked      map[string][]string
	Title       string
	Fields      Fields
	SubmittedAt time.Time
	// TicketDueAt and TicketRemindAt are the whole ticket's SLA (zero: none).
	TicketDueAt, TicketRemindAt time.Time

	Route []Node
	// Current is the index in Route of the active node; -1 when none is active.
	Current int
	// Activation counts node activations; task ids and reminders refer to it.
	Activation  int
	ActivatedAt time.Time
	DueAt       time.Time
	Tasks       []Task

	Watchers []string
	CC       []string
	// Handled lists every principal who held a task, in order of first assignment.
	Handled []string
	// LastUrged is when each node was last urged.
	LastUrged map[string]time.Time
	Urges     int
	// Reminded records the reminders already sent, as "activation/kind".
	Reminded map[string]bool

	FinalAt    time.Time
	Executions []Execution
}

// Initial returns the state before any event.
func Initial() State { return State{Current: -1} }

// CurrentNode returns the active node, if any.
func (s State) CurrentNode() (Node, bool) {
	if s.Current < 0 || s.Current >= len(s.Route) {
		return Node{}, false
	}
	return s.Route[s.Current], true
}

// PendingHandlers returns the assignees whose tasks are pending now.
func (s State) PendingHandlers() []string {
	var out []string
	for _, t := range s.Tasks {
		if t.Status == TaskPending {
			out = append(out, t.Assignee)
		}
	}
	return out
}

// Participant reports whether p submits, watches, is CC'd on, or handled a task of the ticket.
func (s State) Participant(p string) bool {
	return p == s.Submitter || slices.Contains(s.Watchers, p) || slices.Contains(s.CC, p) || slices.Contains(s.Handled, p)
}

// Succeeded reports whether the business system reported a successful execution.
func (s State) Succeeded() bool {
	return slices.ContainsFunc(s.Executions, func(e Execution) bool { return e.Status == ExecutionSucceeded })
}
