package projections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections/audit"
)

// Timeline reads a ticket's audit timeline from the event log: who did what, for whom,
// at which node, with which comment, when, and where in the log. It never returns a field
// value, so it can be shown to anyone who may follow the ticket; the full record, verified,
// comes from package projections/audit.
//
// A timeline is one ticket's stream, in the stream's order, which the event store serves
// by key: no read model copies it, so a timeline is complete as soon as an append is
// acknowledged, and appending an event costs no timeline write. Safe for concurrent use.
type Timeline struct {
	log *audit.Log
}

// NewTimeline returns the timelines of the tickets whose streams log reads.
func NewTimeline(log *audit.Log) *Timeline { return &Timeline{log: log} }

// Entry is one event of a ticket's timeline.
type Entry struct {
	TicketID string
	Version  uint64
	Position eventstore.Position
	Type     string
	// Actor issued the command; OnBehalfOf is whom they acted for as a delegate.
	Actor      string
	OnBehalfOf string
	// Source is the system the command came from ("user", "scheduler", a business system).
	Source  string
	Node    string
	Comment string
	// Detail holds what else the event says (outcome, target node, users, field names
	// changed...), never a field value.
	Detail map[string]any
	// At is the domain time of the event; RecordedAt when the store recorded it.
	At         time.Time
	RecordedAt time.Time
}

// describe reads the timeline's view of e: the actor the event names (metadata, when
// present, overrides it), node, comment and detail.
func describe(e ticket.Event) Entry {
	var en Entry
	d := map[string]any{}
	decision := func(x ticket.Decision) {
		en.Actor, en.Node, en.Comment = x.By, x.Node, x.Comment
		if x.By != x.Assignee {
			en.OnBehalfOf = x.Assignee
		}
		d["task_id"], d["assignee"] = x.TaskID, x.Assignee
	}
	switch e := e.(type) {
	case *ticket.Submitted:
		en.Actor = e.Submitter
		keys := make([]string, len(e.Route))
		for i, n := range e.Route {
			keys[i] = n.Key
		}
		d["process_key"], d["process_version"], d["route"] = e.ProcessKey, e.ProcessVersion, keys
		if e.BusinessKey != "" {
			d["business_key"] = e.BusinessKey
		}
		if len(e.CC) > 0 {
			d["cc"] = e.CC
		}
	case *ticket.NodeActivated:
		en.Node = e.Node
		handlers := make([]string, len(e.Tasks))
		for i, t := range e.Tasks {
			handlers[i] = t.Assignee
		}
		d["activation"], d["handlers"] = e.Activation, handlers
		if !e.DueAt.IsZero() {
			d["due_at"] = e.DueAt
		}
	case *ticket.TaskApproval:
		decision(e.Decision)
		if len(e.Changes) > 0 {
			d["changed"] = slices.Sorted(maps.Keys(e.Changes))
		}
	case *ticket.TaskRejection:
		decision(e.Decision)
	case *ticket.NodeCompleted:
		en.Node = e.Node
		d["outcome"] = e.Outcome
	case *ticket.Returned:
		decision(e.Decision)
		d["to"] = e.To
	case *ticket.Resubmitted:
		en.Actor, en.Comment = e.By, e.Comment
		if len(e.Changed) > 0 {
			d["changed"] = e.Changed
		}
	case *ticket.Withdrawn:
		en.Actor, en.Comment = e.By, e.Reason
	case *ticket.TaskTransfer:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		if e.By != e.Assignee && !e.Reassigned {
			en.OnBehalfOf = e.Assignee
		}
		d["task_id"], d["new_task"], d["assignee"], d["to"] = e.TaskID, e.NewTask, e.Assignee, e.To
		if e.Reassigned {
			d["reassigned"] = true
		}
	case *ticket.HandlerReplaced:
		en.Actor, en.Comment = e.By, e.Comment
		d["from"], d["to"], d["nodes"] = e.From, e.To, e.Nodes
		if len(e.Tasks) > 0 {
			d["tasks"] = e.Tasks
		}
	case *ticket.SignerAdded:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		d["signer"], d["where"], d["new_node"] = e.Signer, e.Where, e.New.Key
	case *ticket.Commented:
		en.Actor, en.Comment = e.By, e.Text
	case *ticket.CCAdded:
		en.Actor = e.By
		d["users"] = e.Users
	case *ticket.Urged:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		d["urged"] = e.Urged
	case *ticket.Reminded:
		en.Node = e.Node
		d["kind"], d["activation"], d["handlers"], d["due_at"] = e.Kind, e.Activation, e.Handlers, e.DueAt
	case *ticket.Rejected:
		en.Actor, en.Node = e.By, e.Node
	case *ticket.ExecutionReported:
		en.Actor, en.Comment = e.ReportedBy, e.Detail
		d["status"] = e.Status
	}
	en.Detail = d
	return en
}

// Of returns every event of the ticket with id, in stream order. Metadata that is missing
// or not JSON leaves actor and source to what the event itself says. Errors: a
// domain.NotFound *domain.Error when the log holds no stream of it; the store's errors
// and an event that does not decode, wrapped.
func (t *Timeline) Of(ctx context.Context, id string) ([]Entry, error) {
	events, err := t.log.Events(ctx, id)
	if errors.Is(err, eventstore.ErrStreamDeleted) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(events))
	for _, ev := range events {
		e, err := ticket.Decode(ev.Type, ev.Data)
		if err != nil {
			return nil, fmt.Errorf("projections: timeline of %s, version %d: %w", id, ev.Version, err)
		}
		var md envelope.Metadata
		if len(ev.Metadata) > 0 {
			md, _ = envelope.Decode(ev.Metadata)
		}
		en := describe(e)
		if md.Actor != "" {
			en.Actor = md.Actor
		}
		if md.OnBehalfOf != "" {
			en.OnBehalfOf = md.OnBehalfOf
		}
		en.TicketID, en.Version, en.Position, en.Type, en.Source = id, ev.Version, ev.Position, ev.Type, md.Source
		en.At, en.RecordedAt = eventTime(e, ev.Created), ev.Created
		out = append(out, en)
	}
	return out, nil
}
