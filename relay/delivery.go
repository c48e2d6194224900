package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states.
const (
	// Pending: waiting for its next attempt (or being attempted).
	Pending DeliveryState = "pending"
	// Delivered: the endpoint answered 2xx.
	Delivered DeliveryState = "delivered"
	// Dead: every attempt of the schedule failed; only an operator's redelivery retries it.
	Dead DeliveryState = "dead"
)

// Delivery is one outcome on its way to one endpoint.
type Delivery struct {
	// ID is also the webhook-id the endpoint receives (see WebhookID).
	ID         uuid.UUID
	EndpointID uuid.UUID
	// EventID is the outcome event's id.
	EventID  uuid.UUID
	TicketID string
	Outcome  string
	State    DeliveryState
	// Attempts counts every attempt made; Failures the failed attempts since the
	// delivery was created or last redelivered, which place it in the retry schedule.
	Attempts int
	Failures int
	// NextAttemptAt is when a pending delivery is attempted next.
	NextAttemptAt time.Time
	// LastStatus is the HTTP status of the last attempt (0: no response).
	LastStatus  int
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeliveredAt time.Time
	DeadAt      time.Time
}

// Attempt is one POST of a delivery.
type Attempt struct {
	ID         int64
	DeliveryID uuid.UUID
	EndpointID uuid.UUID
	TicketID   string
	// Number counts the delivery's attempts from 1.
	Number    int
	StartedAt time.Time
	Latency   time.Duration
	// Status is the HTTP status received; 0 when no response arrived.
	Status int
	// Error says why the attempt failed; empty for a success.
	Error string
	// Response holds the first bytes of the response body.
	Response string
}

// DeliveryQuery selects deliveries; zero fields do not filter. Results are ordered by
// creation, newest first.
type DeliveryQuery struct {
	EndpointID uuid.UUID
	TicketID   string
	State      DeliveryState
	// Limit caps the result (default 100, at most 1000); Offset skips that many.
	Limit  int
	Offset int
}

// AttemptQuery selects attempts; zero fields do not filter. Results are ordered by time,
// newest first.
type AttemptQuery struct {
	DeliveryID uuid.UUID
	EndpointID uuid.UUID
	TicketID   string
	Limit      int
	Offset     int
}

// OutcomeRecord is a relayed outcome with the business system's execution report.
type OutcomeRecord struct {
	EventID    uuid.UUID
	TicketID   string
	System     string
	ProcessKey string
	Outcome    string
	Position   string
	// Payload is the webhook body sent to every endpoint.
	Payload   []byte
	DecidedAt time.Time
	RelayedAt time.Time
	// Execution is the latest execution report; its Status is empty until one arrives.
	Execution Execution
}

// Execution is the business system's report of executing an outcome.
type Execution struct {
	// Status is "succeeded" or "failed".
	Status     string
	Detail     string
	ReportedBy string
	At         time.Time
	// WebhookID is the delivery the report answered, when the report named it as its
	// causation id.
	WebhookID string
}

func limit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

const deliveryColumns = `d.id, d.endpoint_id, d.event_id, d.ticket_id, m.outcome, d.state, d.attempts, d.failures,
	d.next_attempt_at, COALESCE(d.last_status, 0), d.last_error, d.created_at, d.updated_at, d.delivered_at, d.dead_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var (
		d               Delivery
		state           string
		delivered, dead *time.Time
	)
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.TicketID, &d.Outcome, &state, &d.Attempts, &d.Failures,
		&d.NextAttemptAt, &d.LastStatus, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &delivered, &dead)
	d.State = DeliveryState(state)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if delivered != nil {
		d.DeliveredAt = delivered.UTC()
	}
	if dead != nil {
		d.DeadAt = dead.UTC()
	}
	return d, err
}

// Delivery returns one delivery by its id (the webhook-id). Errors: NotFound *domain.Error.
func (s *Store) Delivery(ctx context.Context, id uuid.UUID) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+`
		FROM relay_deliveries d JOIN relay_messages m ON m.event_id = d.event_id WHERE d.id = $1`, id))
	if isNoRows(err) {
		return Delivery{}, notFound("no-such-delivery", "no delivery %s", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("relay: delivery %s: %w", id, err)
	}
	return d, nil
}

// Deliveries lists the deliveries q selects.
func (s *Store) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+`
		FROM relay_deliveries d JOIN relay_messages m ON m.event_id = d.event_id
		WHERE ($1::uuid IS NULL OR d.endpoint_id = $1) AND ($2 = '' OR d.ticket_id = $2) AND ($3 = '' OR d.state = $3)
		ORDER BY d.created_at DESC, d.id LIMIT $4 OFFSET $5`,
		nullUUID(q.EndpointID), q.TicketID, string(q.State), limit(q.Limit), max(q.Offset, 0))
	if err != nil {
		return nil, fmt.Errorf("relay: deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("relay: deliveries: %w", err)
	}
	return out, nil
}

// Attempts lists the attempts q selects.
func (s *Store) Attempts(ctx context.Context, q AttemptQuery) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, delivery_id, endpoint_id, ticket_id, number, started_at, latency_us,
			COALESCE(status, 0), error, response
		FROM relay_attempts
		WHERE ($1::uuid IS NULL OR delivery_id = $1) AND ($2::uuid IS NULL OR endpoint_id = $2) AND ($3 = '' OR ticket_id = $3)
		ORDER BY id DESC LIMIT $4 OFFSET $5`,
		nullUUID(q.DeliveryID), nullUUID(q.EndpointID), q.TicketID, limit(q.Limit), max(q.Offset, 0))
	if err != nil {
		return nil, fmt.Errorf("relay: attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var (
			a  Attempt
			us int64
		)
		err := r.Scan(&a.ID, &a.DeliveryID, &a.EndpointID, &a.TicketID, &a.Number, &a.StartedAt, &us, &a.Status, &a.Error, &a.Response)
		a.StartedAt, a.Latency = a.StartedAt.UTC(), time.Duration(us)*time.Microsecond
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: attempts: %w", err)
	}
	return out, nil
}

// Outcomes returns the outcomes relayed for a ticket (normally one), oldest first.
func (s *Store) Outcomes(ctx context.Context, ticketID string) ([]OutcomeRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id, ticket_id, system, process_key, outcome, position, payload, decided_at, relayed_at,
			execution_status, execution_detail, execution_by, execution_at, execution_webhook_id
		FROM relay_messages WHERE ticket_id = $1 ORDER BY pos_major, pos_minor`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("relay: outcomes of %s: %w", ticketID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutcomeRecord, error) {
		var (
			o  OutcomeRecord
			at *time.Time
		)
		err := r.Scan(&o.EventID, &o.TicketID, &o.System, &o.ProcessKey, &o.Outcome, &o.Position, &o.Payload, &o.DecidedAt, &o.RelayedAt,
			&o.Execution.Status, &o.Execution.Detail, &o.Execution.ReportedBy, &at, &o.Execution.WebhookID)
		o.DecidedAt, o.RelayedAt = o.DecidedAt.UTC(), o.RelayedAt.UTC()
		if at != nil {
			o.Execution.At = at.UTC()
		}
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: outcomes of %s: %w", ticketID, err)
	}
	return out, nil
}

// Redeliver makes a delivery pending again, due now, with a fresh retry schedule,
// whatever its state: a dead delivery is revived, a delivered one is sent again (with the
// same webhook-id). It returns the delivery as changed. Errors: NotFound *domain.Error.
func (s *Store) Redeliver(ctx context.Context, id uuid.UUID) (Delivery, error) {
	// The answer is the row as this statement left it: read afterwards, it could already
	// show the dispatcher's next attempt.
	d, err := scanDelivery(s.pool.QueryRow(ctx, `WITH revived AS (
			UPDATE relay_deliveries SET state = 'pending', failures = 0, next_attempt_at = $2,
				lease_until = NULL, lease_token = NULL, dead_at = NULL, updated_at = $2 WHERE id = $1 RETURNING *),
		notified AS (SELECT pg_notify($3, endpoint_id::text) FROM revived)
		SELECT `+deliveryColumns+` FROM revived d JOIN relay_messages m ON m.event_id = d.event_id
			CROSS JOIN (SELECT count(*) FROM notified) n`, id, s.now(), dueChannel))
	if isNoRows(err) {
		return Delivery{}, notFound("no-such-delivery", "no delivery %s", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("relay: redeliver %s: %w", id, err)
	}
	return d, nil
}

// RedeliverDead makes every dead delivery of an endpoint pending again, due now, and
// returns how many it revived. Errors: NotFound *domain.Error for an unknown endpoint.
func (s *Store) RedeliverDead(ctx context.Context, endpointID uuid.UUID) (int, error) {
	if _, err := s.Endpoint(ctx, endpointID); err != nil {
		return 0, err
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH revived AS (
			UPDATE relay_deliveries SET state = 'pending', failures = 0, next_attempt_at = $2,
				lease_until = NULL, lease_token = NULL, dead_at = NULL, updated_at = $2 WHERE endpoint_id = $1 AND state = 'dead'
			RETURNING 1)
		SELECT count(*), CASE WHEN count(*) > 0 THEN pg_notify($3, $1::text) END FROM revived`,
		endpointID, s.now(), dueChannel).Scan(&n, nil)
	if err != nil {
		return 0, fmt.Errorf("relay: redeliver the dead deliveries of %s: %w", endpointID, err)
	}
	return n, nil
}

func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// QuarantinedOutcome is an outcome the relay did not send because the ticket's history
// does not verify (a broken hash chain), does not decode, or cannot be read.
type QuarantinedOutcome struct {
	EventID  uuid.UUID
	Stream   string
	Position string
	Reason   string
	At       time.Time
}

// Quarantined lists the quarantined outcomes, newest first.
func (s *Store) Quarantined(ctx context.Context) ([]QuarantinedOutcome, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id, stream, position, reason, at FROM relay_quarantine ORDER BY at DESC, event_id`)
	if err != nil {
		return nil, fmt.Errorf("relay: quarantined outcomes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QuarantinedOutcome, error) {
		var q QuarantinedOutcome
		err := r.Scan(&q.EventID, &q.Stream, &q.Position, &q.Reason, &q.At)
		q.At = q.At.UTC()
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: quarantined outcomes: %w", err)
	}
	return out, nil
}
