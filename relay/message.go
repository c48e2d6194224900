package relay

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Metadata keys of an outcome message on the Watermill topic. The message's UUID is the
// outcome event's id and its payload is the webhook body (a Payload in JSON).
const (
	MetaSchema     = "schema_version"
	MetaEventID    = "event_id"
	MetaTicketID   = "ticket_id"
	MetaSystem     = "system"
	MetaProcessKey = "process_key"
	MetaOutcome    = "outcome"
	MetaPosition   = "position"
	MetaDecidedAt  = "decided_at"
	// MetaInstallation is the id of the installation that published the message
	// (Store.Installation); a dispatcher leaves another installation's messages alone.
	MetaInstallation = "installation"
)

// outcomeMessage is one final outcome on its way from the relay to the dispatcher.
type outcomeMessage struct {
	EventID    uuid.UUID
	TicketID   string
	System     string
	ProcessKey string
	Outcome    string
	Position   eventstore.Position
	DecidedAt  time.Time
	Body       []byte
}

func newOutcomeMessage(p Payload) (outcomeMessage, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return outcomeMessage{}, fmt.Errorf("relay: encode payload: %w", err)
	}
	id, err := uuid.Parse(p.Data.EventID)
	if err != nil {
		return outcomeMessage{}, fmt.Errorf("relay: outcome event id %q: %w", p.Data.EventID, err)
	}
	pos, err := eventstore.ParsePosition(p.Data.Position)
	if err != nil {
		return outcomeMessage{}, err
	}
	return outcomeMessage{
		EventID: id, TicketID: p.Data.TicketID, System: p.Data.System, ProcessKey: p.Data.ProcessKey,
		Outcome: p.Data.Outcome, Position: pos, DecidedAt: p.Data.DecidedAt, Body: body,
	}, nil
}

// watermill returns the message as published on the topic by installation.
func (m outcomeMessage) watermill(installation uuid.UUID) *message.Message {
	msg := message.NewMessage(m.EventID.String(), m.Body)
	msg.Metadata.Set(MetaSchema, strconv.Itoa(PayloadSchema))
	msg.Metadata.Set(MetaEventID, m.EventID.String())
	msg.Metadata.Set(MetaTicketID, m.TicketID)
	msg.Metadata.Set(MetaSystem, m.System)
	msg.Metadata.Set(MetaProcessKey, m.ProcessKey)
	msg.Metadata.Set(MetaOutcome, m.Outcome)
	msg.Metadata.Set(MetaPosition, m.Position.String())
	msg.Metadata.Set(MetaDecidedAt, m.DecidedAt.UTC().Format(time.RFC3339Nano))
	msg.Metadata.Set(MetaInstallation, installation.String())
	return msg
}

// parseOutcomeMessage reads a message published by watermill.
func parseOutcomeMessage(msg *message.Message) (outcomeMessage, error) {
	id, err := uuid.Parse(msg.Metadata.Get(MetaEventID))
	if err != nil {
		return outcomeMessage{}, fmt.Errorf("relay: message %s: event id: %w", msg.UUID, err)
	}
	pos, err := eventstore.ParsePosition(msg.Metadata.Get(MetaPosition))
	if err != nil {
		return outcomeMessage{}, fmt.Errorf("relay: message %s: %w", msg.UUID, err)
	}
	at, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetaDecidedAt))
	if err != nil {
		return outcomeMessage{}, fmt.Errorf("relay: message %s: decided at: %w", msg.UUID, err)
	}
	m := outcomeMessage{
		EventID: id, TicketID: msg.Metadata.Get(MetaTicketID), System: msg.Metadata.Get(MetaSystem),
		ProcessKey: msg.Metadata.Get(MetaProcessKey), Outcome: msg.Metadata.Get(MetaOutcome),
		Position: pos, DecidedAt: at, Body: msg.Payload,
	}
	if m.TicketID == "" || m.Outcome == "" || len(m.Body) == 0 {
		return outcomeMessage{}, fmt.Errorf("relay: message %s: missing ticket id, outcome or body", msg.UUID)
	}
	return m, nil
}

// positionColumns splits a position into the two bigint columns that order it in SQL.
func positionColumns(p eventstore.Position) (int64, int64, error) {
	major, minor := p.Parts()
	if major > math.MaxInt64 || minor > math.MaxInt64 {
		return 0, 0, fmt.Errorf("relay: position %s does not fit the delivery table", p)
	}
	return int64(major), int64(minor), nil
}

// webhookNamespace prefixes what a webhook id is derived from.
var webhookNamespace = uuid.MustParse("0d6c3f3e-2b8a-4f57-8f0e-6a4f3c2d9b71")

// WebhookID returns the webhook-id of the delivery of an outcome to an endpoint: a
// name-based UUID (version 8, SHA-256; RFC 9562) of the ticket id, the outcome event id
// and the endpoint id. It is the same on every attempt, after a restart and on every
// relay instance, so receivers deduplicate by it; it is also the delivery's ID. The SQL
// function relay_webhook_id computes the same value.
func WebhookID(ticketID string, eventID, endpointID uuid.UUID) uuid.UUID {
	h := sha256.New()
	h.Write(webhookNamespace[:])
	h.Write([]byte(ticketID))
	h.Write([]byte{0})
	h.Write(eventID[:])
	h.Write(endpointID[:])
	var id uuid.UUID
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x80
	id[8] = id[8]&0x3f | 0x80
	return id
}
