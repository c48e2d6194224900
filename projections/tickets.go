package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// TicketsName is the name of the tickets projection; its tables live in Schema(TicketsName).
const TicketsName = "tickets"

// Tickets is the projection of ticket streams into the tracking view (tickets, their
// routes and CC lists: this file), the workbench (tasks: tasks.go), field visibility
// (visibility.go) and statistics (activations: statistics.go), which share one checkpoint
// so that they always agree. Its queries read the pool given to NewTickets; the workbench
// and the handlers' delegates also read the delegations projection. Safe for concurrent use.
type Tickets struct {
	pool *pgxpool.Pool
}

// NewTickets returns the tickets projection, querying through pool (which may be nil for
// a projection that is only applied).
func NewTickets(pool *pgxpool.Pool) *Tickets { return &Tickets{pool: pool} }

// Name implements Projection.
func (*Tickets) Name() string { return TicketsName }

// Filter implements Projection: the ticket streams.
func (*Tickets) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}}
}

// StreamLocal implements StreamLocal: an event touches only the rows of its own ticket.
func (*Tickets) StreamLocal() bool { return true }

// Migrations implements Projection.
func (*Tickets) Migrations() fs.FS { return embedded("tickets") }

// Apply implements Projection.
func (t *Tickets) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	return applyQueued(ctx, tx, t, ev)
}

// Queue implements Queuer: one statement per event. Events of unknown types or with
// malformed bodies are errors.
func (*Tickets) Queue(batch *pgx.Batch, ev eventstore.RecordedEvent) error {
	id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
	if !ok {
		return nil
	}
	e, err := ticket.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	at := eventTime(e, ev.Created)
	pos := ev.Position.String()
	b := &script{}
	defer b.flush(batch)
	touch := func(set string, args ...any) {
		sql := `UPDATE tickets SET updated_at = $2, version = $3, last_position = $4` + set + ` WHERE id = $1`
		b.Queue(sql, append([]any{id, at, int64(ev.Version), pos}, args...)...)
	}
	switch e := e.(type) {
	case *ticket.Submitted:
		fields, err := jsonObject(e.Fields)
		if err != nil {
			return err
		}
		b.Queue(insertTicketSQL, id, e.ProcessKey, e.ProcessVersion, e.System, e.BusinessKey, e.Submitter, e.Title,
			fields, nonNil(e.Watchers), at, int64(ev.Version), pos)
		if err := queueRoute(b, id, e.Route); err != nil {
			return err
		}
		b.Queue(`INSERT INTO cc (principal, ticket_id, added_at, added_by)
			SELECT u, $1, $2, $3 FROM unnest($4::text[]) u ON CONFLICT DO NOTHING`, id, at, e.Submitter, nonNil(e.CC))
	case *ticket.NodeActivated:
		touch(`, status = 'in_progress', current_node = $5, current_index = $6, activation = $7, activated_at = $2, due_at = $8`,
			e.Node, e.Index, e.Activation, nullTime(e.DueAt))
		queueActivatedTasks(b, id, e)
		queueActivation(b, id, e)
	case *ticket.TaskApproval:
		queueDecided(b, id, e.Decision, ticket.TaskApproved)
		queuePromotion(b, id, e.At)
		if len(e.Changes) > 0 {
			set, removed, err := splitChanges(e.Changes)
			if err != nil {
				return err
			}
			touch(`, fields = (fields || $5::jsonb) - $6::text[]`, set, removed)
		} else {
			touch("")
		}
	case *ticket.TaskRejection:
		queueDecided(b, id, e.Decision, ticket.TaskRejected)
		touch("")
	case *ticket.NodeCompleted:
		queueCancelOpen(b, id, "")
		queueActivationEnd(b, id, at, e.Outcome)
		touch(closeNodeSQL)
	case *ticket.Returned:
		queueDecided(b, id, e.Decision, ticket.TaskReturned)
		queueCancelOpen(b, id, e.TaskID)
		queueActivationEnd(b, id, at, "returned")
		if e.To == ticket.ToSubmitter {
			touch(closeNodeSQL + `, status = 'returned'`)
		} else {
			touch(closeNodeSQL)
		}
	case *ticket.Resubmitted:
		fields, err := jsonObject(e.Fields)
		if err != nil {
			return err
		}
		touch(closeNodeSQL+`, status = 'in_progress', fields = $5::jsonb`, fields)
		b.Queue(`DELETE FROM nodes WHERE ticket_id = $1`, id)
		if err := queueRoute(b, id, e.Route); err != nil {
			return err
		}
	case *ticket.Withdrawn:
		queueCancelOpen(b, id, "")
		queueActivationEnd(b, id, at, "withdrawn")
		touch(closeNodeSQL + `, status = 'withdrawn', final_at = $2`)
	case *ticket.TaskTransfer:
		queueTransfer(b, id, e)
		touch("")
	case *ticket.SignerAdded:
		b.Queue(`UPDATE nodes SET idx = idx + 1 WHERE ticket_id = $1 AND idx >= $2`, id, e.Index)
		if err := queueNodes(b, id, e.Index, []ticket.Node{e.New}); err != nil {
			return err
		}
		if e.Where == ticket.Before {
			queueCancelOpen(b, id, "")
			queueActivationEnd(b, id, at, "signer-added")
			touch(closeNodeSQL)
		} else {
			touch(`, current_index = CASE WHEN $5 <= current_index THEN current_index + 1 ELSE current_index END`, e.Index)
		}
	case *ticket.CCAdded:
		b.Queue(`INSERT INTO cc (principal, ticket_id, added_at, added_by)
			SELECT u, $1, $2, $3 FROM unnest($4::text[]) u ON CONFLICT DO NOTHING`, id, at, e.By, nonNil(e.Users))
		touch("")
	case *ticket.Urged:
		touch(`, urge_count = urge_count + 1, last_urged_at = $2`)
	case *ticket.Approved:
		queueCancelOpen(b, id, "")
		touch(closeNodeSQL + `, status = 'approved', final_at = $2`)
	case *ticket.Rejected:
		queueCancelOpen(b, id, "")
		touch(closeNodeSQL + `, status = 'rejected', final_at = $2`)
	case *ticket.ExecutionReported:
		touch(`, execution_status = $5, execution_detail = $6, execution_reported_by = $7, executed_at = $2`,
			e.Status, e.Detail, e.ReportedBy)
	default:
		touch("")
	}
	return nil
}

const insertTicketSQL = `INSERT INTO tickets (id, status, process_key, process_version, system, business_key,
	submitter, title, fields, watchers, submitted_at, updated_at, version, last_position)
VALUES ($1, 'in_progress', $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, process_key = excluded.process_key,
	process_version = excluded.process_version, system = excluded.system, business_key = excluded.business_key,
	submitter = excluded.submitter, title = excluded.title, fields = excluded.fields, watchers = excluded.watchers,
	current_node = NULL, current_index = NULL, activation = 0, activated_at = NULL, due_at = NULL,
	urge_count = 0, last_urged_at = NULL, final_at = NULL, execution_status = NULL, execution_detail = NULL,
	execution_reported_by = NULL, executed_at = NULL, submitted_at = excluded.submitted_at,
	updated_at = excluded.updated_at, version = excluded.version, last_position = excluded.last_position`

// script gathers the statements an event needs into one statement, each a data-modifying
// WITH query of the last: one execution instead of several. The statements all see the
// database as it was before the event and none sees the others' changes, so those of one
// event must not read what another writes nor write the same rows.
type script struct {
	parts []string
	args  []any
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// Queue adds a statement whose placeholders $1... refer to args.
func (s *script) Queue(sql string, args ...any) {
	offset := len(s.args)
	if offset > 0 {
		sql = placeholder.ReplaceAllStringFunc(sql, func(m string) string {
			n, _ := strconv.Atoi(m[1:])
			return "$" + strconv.Itoa(n+offset)
		})
	}
	s.parts = append(s.parts, sql)
	s.args = append(s.args, args...)
}

// flush queues the gathered statements as one in b.
func (s *script) flush(b *pgx.Batch) {
	switch len(s.parts) {
	case 0:
		return
	case 1:
		b.Queue(s.parts[0], s.args...)
		return
	}
	var sb strings.Builder
	sb.WriteString("WITH ")
	for i, p := range s.parts[:len(s.parts)-1] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "s%d AS (%s)", i, p)
	}
	sb.WriteString(" ")
	sb.WriteString(s.parts[len(s.parts)-1])
	b.Queue(sb.String(), s.args...)
}

// closeNodeSQL is the SET part of an update that leaves no node active.
const closeNodeSQL = `, current_node = NULL, current_index = NULL, due_at = NULL`

// queueRoute writes a whole route, after the ticket's nodes were deleted or before any.
func queueRoute(b *script, id string, route []ticket.Node) error {
	return queueNodes(b, id, 0, route)
}

// queueNodes inserts nodes at indexes from, from+1, ...
func queueNodes(b *script, id string, from int, nodes []ticket.Node) error {
	if len(nodes) == 0 {
		return nil
	}
	raw, err := json.Marshal(nodes)
	if err != nil {
		return fmt.Errorf("projections: encode route: %w", err)
	}
	b.Queue(`INSERT INTO nodes (ticket_id, idx, key, name, mode, handlers, visible, reject_to, added_by)
		SELECT $1, $2 + r.o - 1, r.n->>'key', coalesce(r.n->>'name', ''), coalesce(r.n->>'mode', ''),
			ARRAY(SELECT jsonb_array_elements_text(coalesce(r.n->'handlers', '[]'))),
			CASE WHEN jsonb_typeof(r.n->'visible') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(r.n->'visible')) END,
			coalesce(r.n->>'reject_to', ''), coalesce(r.n->>'added_by', '')
		FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS r(n, o)`, id, from, string(raw))
	return nil
}

// eventTime is the domain time of e, or fallback when it carries none.
func eventTime(e ticket.Event, fallback time.Time) time.Time {
	var at time.Time
	switch e := e.(type) {
	case *ticket.Submitted:
		at = e.At
	case *ticket.NodeActivated:
		at = e.At
	case *ticket.TaskApproval:
		at = e.At
	case *ticket.TaskRejection:
		at = e.At
	case *ticket.NodeCompleted:
		at = e.At
	case *ticket.Returned:
		at = e.At
	case *ticket.Resubmitted:
		at = e.At
	case *ticket.Withdrawn:
		at = e.At
	case *ticket.TaskTransfer:
		at = e.At
	case *ticket.SignerAdded:
		at = e.At
	case *ticket.Commented:
		at = e.At
	case *ticket.CCAdded:
		at = e.At
	case *ticket.Urged:
		at = e.At
	case *ticket.Reminded:
		at = e.At
	case *ticket.Approved:
		at = e.At
	case *ticket.Rejected:
		at = e.At
	case *ticket.ExecutionReported:
		at = e.At
	}
	if at.IsZero() {
		return fallback
	}
	return at
}

// jsonObject encodes fields as a JSON object ("{}" when empty).
func jsonObject(f ticket.Fields) (string, error) {
	if len(f) == 0 {
		return "{}", nil
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("projections: encode fields: %w", err)
	}
	return string(raw), nil
}

// splitChanges separates field changes into the values set (a JSON object) and the
// fields removed (a JSON null), as ticket.Evolve merges them.
func splitChanges(changes ticket.Fields) (string, []string, error) {
	set := make(ticket.Fields, len(changes))
	removed := []string{}
	for k, v := range changes {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			removed = append(removed, k)
		} else {
			set[k] = v
		}
	}
	obj, err := jsonObject(set)
	return obj, removed, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nullTime is t, or NULL when t is zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func stringOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Ticket is a ticket as the tracking view shows it, without its fields (see AsSeenBy).
type Ticket struct {
	ID             string
	Status         ticket.Status
	ProcessKey     string
	ProcessVersion int
	System         string
	BusinessKey    string
	Submitter      string
	Title          string
	Watchers       []string
	CC             []string
	// CurrentNode is the key of the active node, empty when none is active; Handlers are
	// its pending tasks, each with the delegates who may act for its assignee now.
	CurrentNode string
	Handlers    []Handler
	Activation  int
	ActivatedAt time.Time
	DueAt       time.Time
	Urges       int
	LastUrgedAt time.Time
	// FinalAt is when the ticket reached its final status (approved, rejected, withdrawn).
	FinalAt time.Time
	// Execution is the business system's last report on executing the outcome.
	Execution   *ticket.Execution
	SubmittedAt time.Time
	UpdatedAt   time.Time
	// Version is the number of events of the ticket applied; Position the last one's.
	Version  uint64
	Position eventstore.Position
}

// Handler is a pending task of the active node.
type Handler struct {
	TaskID    string
	Node      string
	Principal string
	// Delegates may act for Principal on the ticket's process now.
	Delegates []string
}

const ticketColumns = `k.id, k.status, k.process_key, k.process_version, k.system, k.business_key, k.submitter,
	k.title, k.watchers, coalesce(k.current_node, ''), k.activation, k.activated_at, k.due_at, k.urge_count,
	k.last_urged_at, k.final_at, k.execution_status, k.execution_detail, k.execution_reported_by, k.executed_at,
	k.submitted_at, k.updated_at, k.version, k.last_position,
	ARRAY(SELECT c.principal FROM rm_tickets.cc c WHERE c.ticket_id = k.id ORDER BY c.principal)`

// scanTicket reads ticketColumns, followed by dest.
func scanTicket(row pgx.Row, t *Ticket, dest ...any) error {
	var (
		activatedAt, dueAt, urgedAt, finalAt, executedAt *time.Time
		execStatus, execDetail, execBy                   *string
		version                                          int64
		pos                                              string
		status                                           string
	)
	err := row.Scan(append([]any{&t.ID, &status, &t.ProcessKey, &t.ProcessVersion, &t.System, &t.BusinessKey,
		&t.Submitter, &t.Title, &t.Watchers, &t.CurrentNode, &t.Activation, &activatedAt, &dueAt, &t.Urges,
		&urgedAt, &finalAt, &execStatus, &execDetail, &execBy, &executedAt,
		&t.SubmittedAt, &t.UpdatedAt, &version, &pos, &t.CC}, dest...)...)
	if err != nil {
		return err
	}
	t.Status = ticket.Status(status)
	t.ActivatedAt, t.DueAt, t.LastUrgedAt, t.FinalAt = timeOf(activatedAt), timeOf(dueAt), timeOf(urgedAt), timeOf(finalAt)
	if execStatus != nil {
		t.Execution = &ticket.Execution{Status: *execStatus, Detail: stringOf(execDetail), ReportedBy: stringOf(execBy), At: timeOf(executedAt)}
	}
	t.Version = uint64(version)
	if t.Position, err = eventstore.ParsePosition(pos); err != nil {
		return err
	}
	return nil
}

// notFound is the error of a ticket that does not exist or that the reader may not see.
func notFound(id string) error {
	return domain.Errorf(domain.NotFound, "no-such-ticket", "no ticket %s", id)
}

// Get returns the ticket with id as the tracking view holds it, with the pending tasks of
// its active node and their assignees' delegates, without its fields. Errors: a
// domain.NotFound *domain.Error when no such ticket was projected; database errors.
func (t *Tickets) Get(ctx context.Context, id string) (Ticket, error) {
	var k Ticket
	err := scanTicket(t.pool.QueryRow(ctx, `SELECT `+ticketColumns+` FROM rm_tickets.tickets k WHERE k.id = $1`, id), &k)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, notFound(id)
	}
	if err != nil {
		return k, fmt.Errorf("projections: ticket %s: %w", id, err)
	}
	k.Handlers, err = t.handlers(ctx, id, time.Now())
	return k, err
}

// handlers returns the pending tasks of a ticket with the delegates active at at.
func (t *Tickets) handlers(ctx context.Context, id string, at time.Time) ([]Handler, error) {
	rows, err := t.pool.Query(ctx, `SELECT t.task_id, t.node, t.assignee,
			ARRAY(SELECT DISTINCT g.delegate FROM rm_delegations.grants g
				WHERE g.principal = t.assignee AND `+activeGrant("g", "$2", "t.process_key")+` ORDER BY g.delegate)
		FROM rm_tickets.tasks t WHERE t.ticket_id = $1 AND t.status = 'pending' ORDER BY t.activation, t.ordinal`, id, at)
	if err != nil {
		return nil, fmt.Errorf("projections: handlers of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Handler, error) {
		var h Handler
		err := r.Scan(&h.TaskID, &h.Node, &h.Principal, &h.Delegates)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: handlers of %s: %w", id, err)
	}
	return out, nil
}
