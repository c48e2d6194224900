package api

import (
	"time"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections/audit"
)

// stateView is a ticket's full state as the auditor's replay gives it.
type stateView struct {
	ID             string              `json:"id"`
	Status         ticket.Status       `json:"status"`
	Process        string              `json:"process"`
	ProcessVersion int                 `json:"process_version"`
	System         string              `json:"system,omitempty"`
	BusinessKey    string              `json:"business_key,omitempty"`
	Submitter      string              `json:"submitter"`
	Title          string              `json:"title,omitempty"`
	Fields         ticket.Fields       `json:"fields"`
	SubmittedAt    time.Time           `json:"submitted_at,omitzero"`
	Route          []ticket.Node       `json:"route"`
	CurrentNode    string              `json:"current_node,omitempty"`
	Tasks          []ticket.Task       `json:"tasks"`
	DueAt          time.Time           `json:"due_at,omitzero"`
	TicketDueAt    time.Time           `json:"ticket_due_at,omitzero"`
	Watchers       []string            `json:"watchers,omitempty"`
	CC             []string            `json:"cc,omitempty"`
	Handled        []string            `json:"handled,omitempty"`
	Picked         map[string][]string `json:"picked,omitempty"`
	Urges          int                 `json:"urges"`
	FinalAt        time.Time           `json:"final_at,omitzero"`
	Executions     []ticket.Execution  `json:"executions,omitempty"`
	Version        uint64              `json:"version"`
	Position       eventstore.Position `json:"position"`
	At             time.Time           `json:"at,omitzero"`
}

func snapshotView(snap audit.Snapshot) stateView {
	st := snap.State
	out := stateView{ID: st.ID, Status: st.Status, Process: st.ProcessKey, ProcessVersion: st.ProcessVersion, System: st.System,
		BusinessKey: st.BusinessKey, Submitter: st.Submitter, Title: st.Title, Fields: st.Fields, SubmittedAt: st.SubmittedAt,
		Route: nonNil(st.Route), Tasks: nonNil(st.Tasks), DueAt: st.DueAt, TicketDueAt: st.TicketDueAt, Watchers: st.Watchers, CC: st.CC, Handled: st.Handled, Picked: st.Picked,
		Urges: st.Urges, FinalAt: st.FinalAt, Executions: st.Executions, Version: snap.Version, Position: snap.Position, At: snap.At}
	if out.Fields == nil {
		out.Fields = ticket.Fields{}
	}
	if n, ok := st.CurrentNode(); ok {
		out.CurrentNode = n.Key
	}
	return out
}
