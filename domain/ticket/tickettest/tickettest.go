// Package tickettest gives tests fixed processes: a ticket.Definition whose route is set in
// advance, and a set of them served by key as the command handlers ask for definitions.
package tickettest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
)

// Process is a fixed process for tests: any JSON object is valid fields, and Route returns
// Nodes whatever the fields and the submitter.
type Process struct {
	ProcessKey string
	// ProcessVersion is the version tickets pin; 0 means 1.
	ProcessVersion int
	Nodes          []ticket.Node
	// Urge is the urge interval; 0 means one hour.
	Urge time.Duration
	// SLA limits the whole ticket (ticket.Definition.TicketSLA); zero sets no limit.
	SLA, Remind time.Duration
}

// Key implements ticket.Definition.
func (p Process) Key() string { return p.ProcessKey }

// Version implements ticket.Definition.
func (p Process) Version() int { return max(p.ProcessVersion, 1) }

// UrgeInterval implements ticket.Definition.
func (p Process) UrgeInterval() time.Duration {
	if p.Urge == 0 {
		return time.Hour
	}
	return p.Urge
}

// System implements ticket.Definition: the processes serve any system.
func (p Process) System() string { return "" }

// TicketSLA implements ticket.Definition.
func (p Process) TicketSLA() (due, remind time.Duration) { return p.SLA, p.Remind }

// ValidateFields implements ticket.Definition: raw must be a JSON object.
func (p Process) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	var f ticket.Fields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return nil, domain.FieldError("not-an-object", "fields", "must be a JSON object")
	}
	return f, nil
}

// Route implements ticket.Definition.
func (p Process) Route(ticket.Fields, ticket.Submitter) ([]ticket.Node, error) { return p.Nodes, nil }

// Definitions serves processes by key, as the command handlers' definitions do: Latest and
// Version return the process of that key (every version is the same), NotFound otherwise.
type Definitions []Process

// Latest returns the process with key.
func (d Definitions) Latest(_ context.Context, key string) (ticket.Definition, error) {
	for _, p := range d {
		if p.ProcessKey == key {
			return p, nil
		}
	}
	return nil, domain.Errorf(domain.NotFound, "no-such-process", "no process %s", key)
}

// Version returns the process with key, whatever the version.
func (d Definitions) Version(ctx context.Context, key string, _ int) (ticket.Definition, error) {
	return d.Latest(ctx, key)
}
