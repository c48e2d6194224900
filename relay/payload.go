package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// PayloadSchema is the version of the outcome payload this package writes. Fields are
// added within a version, never renamed or given another meaning; a change that breaks
// readers gets a new version.
const PayloadSchema = 1

// The final outcomes of a ticket, as payloads and endpoint filters name them.
const (
	OutcomeApproved  = "approved"
	OutcomeRejected  = "rejected"
	OutcomeWithdrawn = "withdrawn"
)

// Outcomes lists every outcome.
var Outcomes = []string{OutcomeApproved, OutcomeRejected, OutcomeWithdrawn}

// Payload is the JSON body of every outcome webhook, shaped as Standard Webhooks
// recommends: a type, a timestamp and the data. Every endpoint receives the same bytes
// for an outcome, on every attempt.
type Payload struct {
	// Type is the outcome event's type: "ticket.approved", "ticket.rejected" or
	// "ticket.withdrawn".
	Type string `json:"type"`
	// Timestamp is when the outcome was decided.
	Timestamp time.Time `json:"timestamp"`
	// SchemaVersion is PayloadSchema.
	SchemaVersion int         `json:"schema_version"`
	Data          OutcomeData `json:"data"`
}

// OutcomeData describes a ticket's final outcome for the business system that owns it.
type OutcomeData struct {
	// Outcome is OutcomeApproved, OutcomeRejected or OutcomeWithdrawn.
	Outcome        string `json:"outcome"`
	TicketID       string `json:"ticket_id"`
	System         string `json:"system"`
	ProcessKey     string `json:"process_key"`
	ProcessVersion int    `json:"process_version"`
	BusinessKey    string `json:"business_key,omitempty"`
	Title          string `json:"title,omitempty"`
	Submitter      string `json:"submitter,omitempty"`
	// Fields are the ticket's fields as they stand at the outcome, approvers' edits
	// included: the owning system sees all of its ticket's fields.
	Fields map[string]json.RawMessage `json:"fields"`
	// DecidedAt, DecidedBy and OnBehalfOf say who made the final decision, when, and for
	// whom when a delegate decided.
	DecidedAt  time.Time `json:"decided_at"`
	DecidedBy  string    `json:"decided_by,omitempty"`
	OnBehalfOf string    `json:"on_behalf_of,omitempty"`
	// Node is the node that rejected the ticket; Reason the withdrawal's reason or the
	// rejection's comment.
	Node   string `json:"node,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Trail summarises the decisions that led to the outcome, in order.
	Trail []TrailEntry `json:"trail"`
	// ChainHead is the SHA-256 hash-chain head of the ticket's stream at the outcome event
	// (hex): the hash of the outcome event, which commits to the whole history before it.
	ChainHead string `json:"chain_head"`
	// StreamVersion is the outcome event's version in the ticket's stream.
	StreamVersion uint64 `json:"stream_version"`
	// EventID is the outcome event's id.
	EventID string `json:"event_id"`
	// Position is the outcome event's position in the event log.
	Position string `json:"position"`
}

// TrailEntry is one decision of a ticket's history.
type TrailEntry struct {
	At   time.Time `json:"at"`
	Node string    `json:"node,omitempty"`
	// Decision is one of submitted, approved, rejected, returned, transferred,
	// signer-added, resubmitted, withdrawn.
	Decision string `json:"decision"`
	// By is the principal who decided; OnBehalfOf the principal they decided for, when a
	// delegate decided (or a business system submitted for a person).
	By         string `json:"by"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	// To is the node returned to, the user a task was transferred to, or the signer added.
	To      string `json:"to,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Reassigned marks a transfer an admin made of a task someone else held (the holder
	// is OnBehalfOf), as when its holder left.
	Reassigned bool `json:"reassigned,omitempty"`
}

// outcomeOf maps an outcome event type to its outcome.
func outcomeOf(eventType string) (string, bool) {
	switch eventType {
	case ticket.TypeApproved:
		return OutcomeApproved, true
	case ticket.TypeRejected:
		return OutcomeRejected, true
	case ticket.TypeWithdrawn:
		return OutcomeWithdrawn, true
	}
	return "", false
}

// errUnrelayable marks an outcome whose history cannot be relayed: it does not verify or
// does not decode. The relay quarantines it instead of stopping.
var errUnrelayable = errors.New("relay: outcome cannot be relayed")

// buildPayload verifies and folds a ticket's stream up to and including its outcome
// event, the last of events, and returns the outcome's payload. An error wrapping
// errUnrelayable reports a history that does not verify or decode.
func buildPayload(events []eventstore.RecordedEvent) (Payload, error) {
	if len(events) == 0 {
		return Payload{}, fmt.Errorf("%w: empty stream", errUnrelayable)
	}
	last := events[len(events)-1]
	outcome, ok := outcomeOf(last.Type)
	if !ok {
		return Payload{}, fmt.Errorf("%w: %s version %d is a %s, not an outcome", errUnrelayable, last.Stream, last.Version, last.Type)
	}
	var (
		v            envelope.Verifier
		st           = ticket.Initial()
		trail        []TrailEntry
		final        envelope.Sealed
		outcomeEvent ticket.Event // the last event, decoded
	)
	for _, re := range events {
		sealed, err := v.Next(envelope.Link{Version: re.Version, Type: re.Type, Data: re.Data, Metadata: re.Metadata})
		if err != nil {
			return Payload{}, fmt.Errorf("%w: %s: %w", errUnrelayable, re.Stream, err)
		}
		e, err := ticket.Decode(re.Type, re.Data)
		if err != nil {
			return Payload{}, fmt.Errorf("%w: %s version %d: %w", errUnrelayable, re.Stream, re.Version, err)
		}
		st = ticket.Evolve(st, e)
		if entry, ok := trailEntry(e, sealed.Metadata); ok {
			trail = append(trail, entry)
		}
		final, outcomeEvent = sealed, e
	}
	data := OutcomeData{
		Outcome: outcome, TicketID: st.ID, System: st.System,
		ProcessKey: st.ProcessKey, ProcessVersion: st.ProcessVersion, BusinessKey: st.BusinessKey,
		Title: st.Title, Submitter: st.Submitter, Fields: map[string]json.RawMessage(st.Fields),
		DecidedAt: st.FinalAt.UTC(), DecidedBy: final.Actor, OnBehalfOf: final.OnBehalfOf,
		Trail: trail, ChainHead: v.Head().String(), StreamVersion: last.Version,
		EventID: last.ID.String(), Position: last.Position.String(),
	}
	if data.Fields == nil {
		data.Fields = map[string]json.RawMessage{}
	}
	if data.Trail == nil {
		data.Trail = []TrailEntry{}
	}
	switch e := outcomeEvent.(type) {
	case *ticket.Rejected:
		data.Node = e.Node
		if n := len(trail); n > 0 && trail[n-1].Decision == "rejected" {
			data.Reason = trail[n-1].Comment
		}
	case *ticket.Withdrawn:
		data.Reason = e.Reason
	}
	return Payload{Type: last.Type, Timestamp: data.DecidedAt, SchemaVersion: PayloadSchema, Data: data}, nil
}

// trailEntry summarises a decision event; other events are not part of the trail.
func trailEntry(e ticket.Event, md envelope.Metadata) (TrailEntry, bool) {
	decision := func(d ticket.Decision, kind string) TrailEntry {
		t := TrailEntry{At: d.At.UTC(), Node: d.Node, Decision: kind, By: d.By, Comment: d.Comment}
		if d.Assignee != "" && d.Assignee != d.By {
			t.OnBehalfOf = d.Assignee
		}
		return t
	}
	switch e := e.(type) {
	case *ticket.Submitted:
		t := TrailEntry{At: e.At.UTC(), Decision: "submitted", By: md.Actor}
		if e.Submitter != "" && e.Submitter != md.Actor {
			t.OnBehalfOf = e.Submitter
		}
		return t, true
	case *ticket.TaskApproval:
		return decision(e.Decision, "approved"), true
	case *ticket.TaskRejection:
		return decision(e.Decision, "rejected"), true
	case *ticket.Returned:
		t := decision(e.Decision, "returned")
		t.To = e.To
		return t, true
	case *ticket.TaskTransfer:
		t := TrailEntry{At: e.At.UTC(), Node: e.Node, Decision: "transferred", By: e.By, To: e.To, Comment: e.Comment, Reassigned: e.Reassigned}
		if e.Assignee != e.By {
			t.OnBehalfOf = e.Assignee
		}
		return t, true
	case *ticket.SignerAdded:
		return TrailEntry{At: e.At.UTC(), Node: e.Node, Decision: "signer-added", By: e.By, OnBehalfOf: md.OnBehalfOf, To: e.Signer, Comment: e.Comment}, true
	case *ticket.Resubmitted:
		return TrailEntry{At: e.At.UTC(), Decision: "resubmitted", By: e.By, OnBehalfOf: md.OnBehalfOf, Comment: e.Comment}, true
	case *ticket.Withdrawn:
		return TrailEntry{At: e.At.UTC(), Decision: "withdrawn", By: e.By, OnBehalfOf: md.OnBehalfOf, Comment: e.Reason}, true
	}
	return TrailEntry{}, false
}
