package projections

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain/ticket"
)

// Viewer is who asks to see a ticket.
type Viewer struct {
	// ID is the principal.
	ID string
	// Privileged viewers (auditors, admins) see every field of every ticket.
	Privileged bool
	// System is the business system a service principal speaks for; it sees every field
	// of the tickets that system submitted.
	System string
	// At is the instant at which delegations must be active; zero means now.
	At time.Time
}

// Access is the ground on which a viewer sees a ticket.
type Access string

// The grounds of access, from the widest.
const (
	// AccessPrivileged: an auditor or admin; every field.
	AccessPrivileged Access = "privileged"
	// AccessSystem: the owning business system; every field.
	AccessSystem Access = "system"
	// AccessSubmitter: the submitter, who wrote the fields; every field.
	AccessSubmitter Access = "submitter"
	// AccessHandler: holds or held a task, or decided one; the fields of those nodes.
	AccessHandler Access = "handler"
	// AccessDelegate: may act now for a principal whose task is open; the fields of
	// that task's node.
	AccessDelegate Access = "delegate"
	// AccessCC: copied in on the ticket or watching it; no field.
	AccessCC Access = "cc"
)

// SeenTicket is a ticket as one viewer may see it.
type SeenTicket struct {
	Ticket
	// Fields are the ticket's current fields the viewer may see, and only those.
	Fields ticket.Fields
	// Shown lists, sorted, the fields the viewer may see (whether or not the ticket has
	// them); nil when they may see every field.
	Shown  []string
	Access Access
}

// asSeenSQL picks the viewer's ground of access and the fields it shows in the database,
// so that a field the viewer may not see is never sent. $1 ticket, $2 principal,
// $3 privileged, $4 system, $5 instant of delegation.
var asSeenSQL = `WITH k AS (SELECT * FROM rm_tickets.tickets WHERE id = $1),
acc AS (
	SELECT t.visible, (t.assignee = $2 OR t.decided_by = $2) AS own
	FROM rm_tickets.tasks t
	WHERE t.ticket_id = $1 AND (t.assignee = $2 OR t.decided_by = $2 OR (t.status IN ('pending', 'waiting')
		AND EXISTS (SELECT 1 FROM rm_delegations.grants g
			WHERE g.principal = t.assignee AND g.delegate = $2 AND ` + activeGrantAtP5 + `)))
),
m AS (
	SELECT CASE
		WHEN $3 THEN 'privileged'
		WHEN $4 <> '' AND k.system = $4 THEN 'system'
		WHEN k.submitter = $2 THEN 'submitter'
		WHEN EXISTS (SELECT 1 FROM acc WHERE own) THEN 'handler'
		WHEN EXISTS (SELECT 1 FROM acc) THEN 'delegate'
		WHEN $2 = ANY (k.watchers) OR EXISTS (SELECT 1 FROM rm_tickets.cc c WHERE c.ticket_id = k.id AND c.principal = $2) THEN 'cc'
	END AS access FROM k
),
s AS (
	SELECT CASE
		WHEN m.access IN ('privileged', 'system', 'submitter') THEN NULL
		WHEN m.access = 'cc' THEN '{}'::text[]
		WHEN EXISTS (SELECT 1 FROM acc WHERE acc.visible IS NULL) THEN NULL
		ELSE ARRAY(SELECT DISTINCT v FROM acc, unnest(acc.visible) v ORDER BY v)
	END AS shown FROM m
)
SELECT ` + ticketColumns + `, m.access, s.shown,
	CASE WHEN s.shown IS NULL THEN k.fields
		ELSE coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(k.fields) e WHERE e.key = ANY (s.shown)), '{}'::jsonb)
	END
FROM k, m, s WHERE m.access IS NOT NULL`

var activeGrantAtP5 = activeGrant("g", "$5", "t.process_key")

// AsSeenBy returns the ticket with id with only the fields v may see: every field for a
// privileged viewer, the owning system and the submitter; for a principal who holds or
// held a task of the ticket, decided one, or may act now as the active delegate of an
// open task's assignee, the union of those nodes' visible fields; none for a principal
// copied in or watching. The filtering happens in the database: hidden fields never
// leave it.
//
// Errors: a domain.NotFound *domain.Error when the ticket does not exist or v has no
// ground to see it (the two are not told apart); database errors.
func (t *Tickets) AsSeenBy(ctx context.Context, id string, v Viewer) (SeenTicket, error) {
	at := v.At
	if at.IsZero() {
		at = time.Now()
	}
	var (
		st     SeenTicket
		access string
	)
	handlers, err := t.withHandlers(ctx, id, at, func(row pgx.Row) error {
		return scanTicket(row, &st.Ticket, &access, &st.Shown, &st.Fields)
	}, asSeenSQL, id, v.ID, v.Privileged, v.System, at)
	if err != nil {
		return st, err
	}
	st.Handlers, st.Access = handlers, Access(access)
	if st.Fields == nil {
		st.Fields = ticket.Fields{}
	}
	return st, nil
}
