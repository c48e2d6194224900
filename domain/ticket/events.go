package ticket

import (
	"encoding/json"
	"fmt"
	"time"

	gojson "github.com/goccy/go-json"
)

// Event is a ticket event; the set is closed: the types in this file.
type Event interface{ isEvent() }

// Submitted opens a ticket.
type Submitted struct {
	TicketID       string `json:"ticket_id"`
	ProcessKey     string `json:"process_key"`
	ProcessVersion int    `json:"process_version"`
	System         string `json:"system,omitempty"`
	BusinessKey    string `json:"business_key,omitempty"`
	Submitter      string `json:"submitter"`
	Title          string `json:"title,omitempty"`
	Fields         Fields `json:"fields"`
	Route          []Node `json:"route"`
	// Picked are the approvers the submitter chose for the nodes whose handlers they pick;
	// a resubmission routes with them again unless it picks anew.
	Picked   map[string][]string `json:"picked,omitempty"`
	Watchers []string            `json:"watchers,omitempty"`
	CC       []string            `json:"cc,omitempty"`
	// DueAt is when the whole ticket is due (the process's ticket SLA), RemindAt when its
	// handlers are reminded that it approaches; zero when the process sets none.
	DueAt    time.Time `json:"due_at,omitzero"`
	RemindAt time.Time `json:"remind_at,omitzero"`
	At       time.Time `json:"at"`
}

// NodeActivated makes a node of the route current, with a task per handler.
type NodeActivated struct {
	Activation int       `json:"activation"`
	Index      int       `json:"index"`
	Node       string    `json:"node"`
	Tasks      []Task    `json:"tasks"`
	DueAt      time.Time `json:"due_at,omitzero"`
	// RemindAt is when the handlers are reminded that DueAt approaches (DueAt less the
	// node's RemindBefore); zero when the node sets no reminder.
	RemindAt time.Time `json:"remind_at,omitzero"`
	At       time.Time `json:"at"`
}

// Decision is what every handler decision records.
type Decision struct {
	Node   string `json:"node"`
	TaskID string `json:"task_id"`
	// Assignee is the handler whose task it was; By decided, on Assignee's behalf when
	// they differ (a delegate).
	Assignee string `json:"assignee"`
	By       string `json:"by"`
	Comment  string `json:"comment,omitempty"`
	// ShownFields is the SHA-256 of exactly the fields the node showed the handler.
	ShownFields string    `json:"shown_fields"`
	At          time.Time `json:"at"`
}

// TaskApproval records a handler's approval, with any edits to editable fields.
type TaskApproval struct {
	Decision
	Changes Fields `json:"changes,omitempty"`
}

// TaskRejection records a handler's rejection.
type TaskRejection struct{ Decision }

// NodeCompleted records that the active node's decision is made.
type NodeCompleted struct {
	Node    string    `json:"node"`
	Outcome string    `json:"outcome"` // approved or rejected
	At      time.Time `json:"at"`
}

// Returned sends the ticket back: to an earlier node (which is activated next) or to the
// submitter, who may resubmit.
type Returned struct {
	Decision
	// To is the key of the node returned to, or ToSubmitter.
	To string `json:"to"`
}

// ToSubmitter is the Returned.To of a return to the submitter.
const ToSubmitter = "submitter"

// Resubmitted records the submitter's corrected submission after a return.
type Resubmitted struct {
	By      string   `json:"by"`
	Changed []string `json:"changed,omitempty"`
	Fields  Fields   `json:"fields"`
	Route   []Node   `json:"route"`
	// Picked are the picks the route was planned with: those given on resubmitting, else
	// the ticket's earlier ones.
	Picked  map[string][]string `json:"picked,omitempty"`
	Comment string              `json:"comment,omitempty"`
	At      time.Time           `json:"at"`
}

// Withdrawn ends the ticket at the submitter's request.
type Withdrawn struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// TaskTransfer hands a pending task to another user (转交). By is the assignee, their
// delegate, or, with Reassigned, an admin who took the task from its assignee.
type TaskTransfer struct {
	Node       string    `json:"node"`
	TaskID     string    `json:"task_id"`
	NewTask    string    `json:"new_task"`
	Assignee   string    `json:"assignee"`
	By         string    `json:"by"`
	To         string    `json:"to"`
	Comment    string    `json:"comment,omitempty"`
	Reassigned bool      `json:"reassigned,omitempty"`
	At         time.Time `json:"at"`
}

// HandlerReplaced puts To in From's place among the handlers of the route's nodes whose
// keys are Nodes, and as the assignee of the active node's waiting tasks Tasks: an
// admin's handover (see Handover).
type HandlerReplaced struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	Nodes   []string  `json:"nodes,omitempty"`
	Tasks   []string  `json:"tasks,omitempty"`
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// SignerAdded inserts a node with one signer before or after the active node (加签).
type SignerAdded struct {
	Node    string    `json:"node"`
	Where   string    `json:"where"` // before or after
	Signer  string    `json:"signer"`
	Index   int       `json:"index"`
	New     Node      `json:"new"`
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Where an added signer goes.
const (
	Before = "before"
	After  = "after"
)

// Commented records a comment on the ticket.
type Commented struct {
	By   string    `json:"by"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// CCAdded copies users in on the ticket (抄送): by a participant's command, or because the
// process copies them in when a node is reached (Node is then that node; By is the actor
// whose decision reached it).
type CCAdded struct {
	By    string    `json:"by"`
	Node  string    `json:"node,omitempty"`
	Users []string  `json:"users"`
	At    time.Time `json:"at"`
}

// Urged records a request to hurry the active node's handlers (催办).
type Urged struct {
	Node    string    `json:"node"`
	By      string    `json:"by"`
	Urged   []string  `json:"urged"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Reminded records an SLA reminder sent by the scheduler.
//
// A reminder of the whole ticket's SLA has Activation 0 and the node active when it was
// sent, if any.
type Reminded struct {
	Node       string    `json:"node"`
	Activation int       `json:"activation"`
	Kind       string    `json:"kind"` // due-soon or overdue
	Handlers   []string  `json:"handlers"`
	DueAt      time.Time `json:"due_at"`
	At         time.Time `json:"at"`
}

// Reminder kinds.
const (
	DueSoon = "due-soon"
	Overdue = "overdue"
)

// Approved is the final outcome of a ticket every node approved.
type Approved struct {
	At time.Time `json:"at"`
}

// Rejected is the final outcome of a ticket whose rejection ended it.
type Rejected struct {
	Node string    `json:"node"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// ExecutionReported records the business system's report on executing the outcome.
type ExecutionReported struct {
	Execution
}

func (*Submitted) isEvent()         {}
func (*NodeActivated) isEvent()     {}
func (*TaskApproval) isEvent()      {}
func (*TaskRejection) isEvent()     {}
func (*NodeCompleted) isEvent()     {}
func (*Returned) isEvent()          {}
func (*Resubmitted) isEvent()       {}
func (*Withdrawn) isEvent()         {}
func (*TaskTransfer) isEvent()      {}
func (*HandlerReplaced) isEvent()   {}
func (*SignerAdded) isEvent()       {}
func (*Commented) isEvent()         {}
func (*CCAdded) isEvent()           {}
func (*Urged) isEvent()             {}
func (*Reminded) isEvent()          {}
func (*Approved) isEvent()          {}
func (*Rejected) isEvent()          {}
func (*ExecutionReported) isEvent() {}

// Event type names: a public contract, never renamed or reused.
const (
	TypeSubmitted         = "ticket.submitted"
	TypeNodeActivated     = "ticket.node-activated"
	TypeTaskApproved      = "ticket.task-approved"
	TypeTaskRejected      = "ticket.task-rejected"
	TypeNodeCompleted     = "ticket.node-completed"
	TypeReturned          = "ticket.returned"
	TypeResubmitted       = "ticket.resubmitted"
	TypeWithdrawn         = "ticket.withdrawn"
	TypeTaskTransferred   = "ticket.task-transferred"
	TypeHandlerReplaced   = "ticket.handler-replaced"
	TypeSignerAdded       = "ticket.signer-added"
	TypeCommented         = "ticket.commented"
	TypeCCAdded           = "ticket.cc-added"
	TypeUrged             = "ticket.urged"
	TypeReminded          = "ticket.reminded"
	TypeApproved          = "ticket.approved"
	TypeRejected          = "ticket.rejected"
	TypeExecutionReported = "ticket.execution-reported"
)

// SchemaVersion is the version of the event bodies this package writes.
const SchemaVersion = 1

// TypeOf returns the stored type name of e.
func TypeOf(e Event) (string, error) {
	switch e.(type) {
	case *Submitted:
		return TypeSubmitted, nil
	case *NodeActivated:
		return TypeNodeActivated, nil
	case *TaskApproval:
		return TypeTaskApproved, nil
	case *TaskRejection:
		return TypeTaskRejected, nil
	case *NodeCompleted:
		return TypeNodeCompleted, nil
	case *Returned:
		return TypeReturned, nil
	case *Resubmitted:
		return TypeResubmitted, nil
	case *Withdrawn:
		return TypeWithdrawn, nil
	case *TaskTransfer:
		return TypeTaskTransferred, nil
	case *HandlerReplaced:
		return TypeHandlerReplaced, nil
	case *SignerAdded:
		return TypeSignerAdded, nil
	case *Commented:
		return TypeCommented, nil
	case *CCAdded:
		return TypeCCAdded, nil
	case *Urged:
		return TypeUrged, nil
	case *Reminded:
		return TypeReminded, nil
	case *Approved:
		return TypeApproved, nil
	case *Rejected:
		return TypeRejected, nil
	case *ExecutionReported:
		return TypeExecutionReported, nil
	}
	return "", fmt.Errorf("ticket: unknown event %T", e)
}

// constructors make an empty event of each stored type name.
var constructors = map[string]func() Event{
	TypeSubmitted:         func() Event { return &Submitted{} },
	TypeNodeActivated:     func() Event { return &NodeActivated{} },
	TypeTaskApproved:      func() Event { return &TaskApproval{} },
	TypeTaskRejected:      func() Event { return &TaskRejection{} },
	TypeNodeCompleted:     func() Event { return &NodeCompleted{} },
	TypeReturned:          func() Event { return &Returned{} },
	TypeResubmitted:       func() Event { return &Resubmitted{} },
	TypeWithdrawn:         func() Event { return &Withdrawn{} },
	TypeTaskTransferred:   func() Event { return &TaskTransfer{} },
	TypeHandlerReplaced:   func() Event { return &HandlerReplaced{} },
	TypeSignerAdded:       func() Event { return &SignerAdded{} },
	TypeCommented:         func() Event { return &Commented{} },
	TypeCCAdded:           func() Event { return &CCAdded{} },
	TypeUrged:             func() Event { return &Urged{} },
	TypeReminded:          func() Event { return &Reminded{} },
	TypeApproved:          func() Event { return &Approved{} },
	TypeRejected:          func() Event { return &Rejected{} },
	TypeExecutionReported: func() Event { return &ExecutionReported{} },
}

// newEvent returns an empty event of the stored type name.
func newEvent(eventType string) (Event, error) {
	if c, ok := constructors[eventType]; ok {
		return c(), nil
	}
	return nil, fmt.Errorf("ticket: unknown event type %q", eventType)
}

// init has github.com/goccy/go-json compile the decoder of every event type before the
// program's goroutines start. The library compiles a type's decoder on its first use and,
// outside race-detector builds, publishes it in its cache with an unsynchronised write of
// an interface value, two words: a goroutine decoding the same type at that moment may
// read one word of it and call the decoder through a nil pointer (goccy/go-json#495).
// ticketd met it at start under load, the relay, the projections and the commands
// decoding their first events together. Package initialisation runs before main and
// happens before every goroutine, so the decoders are published once, whole.
func init() {
	for typ, c := range constructors {
		if err := gojson.Unmarshal([]byte(`{}`), c()); err != nil {
			panic(fmt.Sprintf("ticket: compile the decoder of %s: %v", typ, err))
		}
	}
}

// Encode returns the stored form of e: its type name and JSON body.
func Encode(e Event) (string, []byte, error) {
	typ, err := TypeOf(e)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("ticket: encode %s: %w", typ, err)
	}
	return typ, b, nil
}

// Decode reads a stored event back. It decodes with github.com/goccy/go-json, which reads
// the same JSON into the same values as encoding/json about three times faster: every
// projection, the relay and the audit decode each event they read.
func Decode(eventType string, data []byte) (Event, error) {
	e, err := newEvent(eventType)
	if err != nil {
		return nil, err
	}
	if err := gojson.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("ticket: decode %s: %w", eventType, err)
	}
	return e, nil
}
