package relay

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// dueChannel is the LISTEN/NOTIFY channel on which new and revived deliveries announce
// their endpoint's id when their transaction commits.
const dueChannel = "relay_due"

// outboxColumns are the columns of relay_messages an outcome message fills, in the order
// of intakeRows.columns.
const outboxColumns = `event_id, ticket_id, system, process_key, outcome, position, pos_major, pos_minor, payload, decided_at, relayed_at`

// outboxRows returns the rows of outcome messages given as the eleven arrays from $k on
// (intakeRows.columns), as m, in outboxColumns' order.
func outboxRows(k int) string {
	arg := func(i int) string { return "$" + strconv.Itoa(k+i) }
	return `unnest(` + arg(0) + `::uuid[], ` + arg(1) + `::text[], ` + arg(2) + `::text[], ` + arg(3) + `::text[], ` +
		arg(4) + `::text[], ` + arg(5) + `::text[], ` + arg(6) + `::bigint[], ` + arg(7) + `::bigint[], ` + arg(8) + `::bytea[], ` +
		arg(9) + `::timestamptz[], ` + arg(10) + `::timestamptz[]) AS m(` + outboxColumns + `)`
}

// intakeCTE is the common part of the statements that take outcome messages in: the
// messages, given as the thirteen arguments from $k on (intakeRows.args), recorded in the
// outbox each once, and one pending delivery, due the schedule's first delay after its
// message's relayed_at, per
// endpoint that wants it, enabled or not (a disabled endpoint's deliveries wait for it); due announces each endpoint that got one on dueChannel, at
// commit, and must be read for that to happen. It is idempotent: messages received again
// create nothing new, except deliveries for endpoints registered since.
func intakeCTE(k int) string {
	return `m AS (SELECT * FROM ` + outboxRows(k) + `),
		message AS (
			INSERT INTO relay_messages (` + outboxColumns + `) SELECT * FROM m
			ON CONFLICT (event_id) DO NOTHING),
		created AS (
			INSERT INTO relay_deliveries (id, endpoint_id, event_id, ticket_id, pos_major, pos_minor, state, next_attempt_at, created_at, updated_at)
			SELECT relay_webhook_id(m.ticket_id, m.event_id, e.id), e.id, m.event_id, m.ticket_id, m.pos_major, m.pos_minor, 'pending',
				m.relayed_at + $` + strconv.Itoa(k+12) + `::bigint * interval '1 microsecond', m.relayed_at, m.relayed_at
			FROM m JOIN relay_endpoints e ON e.system = m.system AND (cardinality(e.processes) = 0 OR m.process_key = ANY(e.processes))
				AND (cardinality(e.outcomes) = 0 OR m.outcome = ANY(e.outcomes))
			ON CONFLICT DO NOTHING RETURNING endpoint_id),
		due AS (SELECT count(pg_notify($` + strconv.Itoa(k+11) + `, c.endpoint_id::text)) AS announced FROM (SELECT DISTINCT endpoint_id FROM created) c)`
}

// intakeRows holds the columns (outboxColumns) of the outcome messages intakeCTE takes
// in, and of those the relay records (insertOutcomesSQL).
type intakeRows struct {
	eventIDs                                             []uuid.UUID
	ticketIDs, systems, processKeys, outcomes, positions []string
	majors, minors                                       []int64
	payloads                                             [][]byte
	decidedAt, now                                       []time.Time
	// first is the retry schedule's first delay: the deliveries are due that long after
	// their outcome is taken in.
	first time.Duration
}

// add appends m, taken in at now.
func (r *intakeRows) add(m outcomeMessage, now time.Time) error {
	major, minor, err := positionColumns(m.Position)
	if err != nil {
		return err
	}
	r.eventIDs, r.ticketIDs, r.systems = append(r.eventIDs, m.EventID), append(r.ticketIDs, m.TicketID), append(r.systems, m.System)
	r.processKeys, r.outcomes, r.positions = append(r.processKeys, m.ProcessKey), append(r.outcomes, m.Outcome), append(r.positions, m.Position.String())
	r.majors, r.minors = append(r.majors, major), append(r.minors, minor)
	r.payloads, r.decidedAt, r.now = append(r.payloads, m.Body), append(r.decidedAt, m.DecidedAt), append(r.now, now)
	return nil
}

func (r *intakeRows) len() int { return len(r.eventIDs) }

// columns returns the rows as arrays, in the order of relay_messages' columns.
func (r *intakeRows) columns() []any {
	return []any{r.eventIDs, r.ticketIDs, r.systems, r.processKeys, r.outcomes, r.positions, r.majors, r.minors,
		r.payloads, r.decidedAt, r.now}
}

// args returns the arguments of intakeCTE.
func (r *intakeRows) args() []any { return append(r.columns(), dueChannel, r.first.Microseconds()) }

// enqueue records an outcome message and creates its deliveries (intakeCTE) in a
// statement of its own; each endpoint that got a delivery is announced on dueChannel at
// commit. The SQL transport takes its messages in with the acknowledgement of their batch
// instead (see SQLTransport).
func (s *Store) enqueue(ctx context.Context, m outcomeMessage, first time.Duration) error {
	rows := intakeRows{first: first}
	if err := rows.add(m, s.now()); err != nil {
		return wrapEnqueue(m, err)
	}
	_, err := s.pool.Exec(ctx, `WITH `+intakeCTE(1)+` SELECT announced FROM due`, rows.args()...)
	return wrapEnqueue(m, err)
}

// wrapEnqueue wraps a failure to enqueue m; nil stays nil.
func wrapEnqueue(m outcomeMessage, err error) error {
	if err != nil {
		return fmt.Errorf("relay: enqueue outcome %s of ticket %s: %w", m.EventID, m.TicketID, err)
	}
	return nil
}

// dueEndpoints returns the enabled endpoints with a pending, unleased delivery due at now.
func (s *Store) dueEndpoints(ctx context.Context, now time.Time) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT d.endpoint_id FROM relay_deliveries d
		JOIN relay_endpoints e ON e.id = d.endpoint_id
		WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until < $1) AND e.enabled`, now)
	if err != nil {
		return nil, fmt.Errorf("relay: due endpoints: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("relay: due endpoints: %w", err)
	}
	return ids, nil
}

// target is what a worker needs to send to an endpoint.
type target struct {
	endpoint Endpoint
	secrets  []EndpointSecret
}

// dispatchTarget loads an endpoint with the secrets that sign at now.
func (s *Store) dispatchTarget(ctx context.Context, id uuid.UUID, now time.Time) (target, error) {
	e, err := s.Endpoint(ctx, id)
	if err != nil {
		return target{}, err
	}
	secrets, err := s.secrets(ctx, id, now)
	if err != nil {
		return target{}, err
	}
	return target{endpoint: e, secrets: secrets}, nil
}

// claimed is a delivery leased to one worker for one attempt.
type claimed struct {
	id       uuid.UUID
	ticketID string
	token    uuid.UUID
	attempt  int
	failures int
	body     []byte
}

// claim leases up to n due deliveries of an endpoint until leaseUntil, oldest outcome
// first. A delivery is skipped while an earlier delivery of the same ticket to the same
// endpoint is pending, which keeps each ticket's outcomes in log order. Deliveries
// leased by others, or locked by a concurrent claim, are skipped.
func (s *Store) claim(ctx context.Context, endpointID uuid.UUID, now, leaseUntil time.Time, n int) ([]claimed, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT d.id FROM relay_deliveries d
			WHERE d.endpoint_id = $1 AND d.state = 'pending' AND d.next_attempt_at <= $2
				AND (d.lease_until IS NULL OR d.lease_until < $2)
				AND NOT EXISTS (
					SELECT 1 FROM relay_deliveries p
					WHERE p.endpoint_id = d.endpoint_id AND p.ticket_id = d.ticket_id AND p.state = 'pending'
						AND (p.pos_major, p.pos_minor) < (d.pos_major, d.pos_minor))
			ORDER BY d.pos_major, d.pos_minor
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE relay_deliveries d SET lease_until = $4, lease_token = gen_random_uuid(), attempts = d.attempts + 1, updated_at = $2
		FROM due, relay_messages m
		WHERE d.id = due.id AND m.event_id = d.event_id
		RETURNING d.id, d.ticket_id, d.lease_token, d.attempts, d.failures, m.payload`,
		endpointID, now, n, leaseUntil)
	if err != nil {
		return nil, fmt.Errorf("relay: claim deliveries of %s: %w", endpointID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.ticketID, &c.token, &c.attempt, &c.failures, &c.body)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: claim deliveries of %s: %w", endpointID, err)
	}
	return out, nil
}

// release gives claimed deliveries back unattempted: their leases end and their attempt
// numbers are taken back, for those whose lease the caller still holds.
func (s *Store) release(ctx context.Context, cs []claimed) error {
	ids, tokens := make([]uuid.UUID, len(cs)), make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i], tokens[i] = c.id, c.token
	}
	if _, err := s.pool.Exec(ctx, `UPDATE relay_deliveries d SET lease_until = NULL, lease_token = NULL, attempts = d.attempts - 1, updated_at = $3
		FROM unnest($1::uuid[], $2::uuid[]) AS c(id, token)
		WHERE d.id = c.id AND d.lease_token = c.token`, ids, tokens, s.now()); err != nil {
		return fmt.Errorf("relay: release %d claimed deliveries: %w", len(cs), err)
	}
	return nil
}

// result is the outcome of one attempt and what it does to the delivery.
type result struct {
	endpointID uuid.UUID
	claimed
	startedAt time.Time
	latency   time.Duration
	status    int
	err       string
	response  string

	state    DeliveryState
	failures int
	next     time.Time
	// disable, when set, disables the endpoint with this reason.
	disable string
}

// record stores attempts and applies their results to their deliveries, for those whose
// lease the worker still holds, in one round trip and one (implicit) transaction.
func (s *Store) record(ctx context.Context, rs []result) error {
	now := s.now()
	var b pgx.Batch
	for _, r := range rs {
		var status *int
		if r.status != 0 {
			status = &r.status
		}
		b.Queue(`WITH attempt AS (
				INSERT INTO relay_attempts (delivery_id, endpoint_id, ticket_id, number, started_at, latency_us, status, error, response)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)),
			gone AS (
				UPDATE relay_endpoints SET enabled = false, disabled_reason = $14, updated_at = $13
				WHERE id = $2 AND $14 <> '')
			UPDATE relay_deliveries SET state = $10, failures = $11, next_attempt_at = $12, lease_until = NULL, lease_token = NULL,
				last_status = $7, last_error = $8, updated_at = $13,
				delivered_at = CASE WHEN $10 = 'delivered' THEN $13 ELSE delivered_at END,
				dead_at = CASE WHEN $10 = 'dead' THEN $13 ELSE NULL END
			WHERE id = $1 AND lease_token = $15`,
			r.id, r.endpointID, r.ticketID, r.attempt, r.startedAt, r.latency.Microseconds(), status, r.err, r.response,
			string(r.state), r.failures, r.next, now, r.disable, r.token)
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("relay: record %d attempts: %w", len(rs), err)
	}
	return nil
}
