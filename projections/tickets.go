package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// Queue implements Queuer: the statements of one event, those QueueSet queues for a
// batch of that event alone.
func (*Tickets) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	return queueTickets(b, []eventstore.RecordedEvent{ev}, false)
}

// QueueSet implements SetQueuer. The events are dealt into rounds, the first event of
// each ticket in the batch, then the second, and so on; a round is one statement per
// kind of event present in it, applied to all its tickets at once, and the rounds are
// queued in order, so that each ticket sees its events in order. The tickets whose
// streams start in the batch (a rebuild's replay, or new tickets under load, whose
// submission and first activation come in one batch) are folded in memory instead and
// their rows inserted once (fold.go). Events of unknown types or with malformed bodies
// are errors.
func (*Tickets) QueueSet(b *pgx.Batch, events []eventstore.RecordedEvent, _ bool) error {
	return queueTickets(b, events, true)
}

// queueTickets queues the statements of events, folding the tickets whose streams start
// among them when fold is set.
func queueTickets(b *pgx.Batch, events []eventstore.RecordedEvent, fold bool) error {
	type stream struct {
		id     string
		events []*eventstore.RecordedEvent
	}
	var (
		streams []*stream
		byID    = make(map[string]*stream, len(events))
	)
	for i := range events {
		ev := &events[i]
		id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
		if !ok {
			continue
		}
		s := byID[id]
		if s == nil {
			s = &stream{id: id}
			byID[id] = s
			streams = append(streams, s)
		}
		s.events = append(s.events, ev)
	}
	var (
		rounds [][]*setRows
		fresh  = newFreshRows()
	)
	for _, s := range streams {
		if fold && s.events[0].Version == 1 {
			f, err := foldTicket(s.id, s.events)
			if err == nil {
				if err := fresh.add(f); err != nil {
					return err
				}
				continue
			}
			if !errors.Is(err, errDecline) {
				return err
			}
		}
		for r, ev := range s.events {
			if r == len(rounds) {
				rounds = append(rounds, make([]*setRows, len(ticketStatements)))
			}
			var next *eventstore.RecordedEvent
			if r+1 < len(s.events) {
				next = s.events[r+1]
			}
			if err := gatherTicketEvent(rounds[r], s.id, ev, next); err != nil {
				return err
			}
		}
	}
	fresh.queue(b)
	for _, round := range rounds {
		for _, rows := range round {
			if rows != nil {
				rows.queue(b)
			}
		}
	}
	return nil
}

// The kinds of ticket events, each applied by a statement of ticketStatements.
const (
	kindSubmitted = iota
	kindActivated
	kindApproval
	kindRejection
	kindCompleted
	kindReturned
	kindResubmitted
	kindWithdrawn
	kindTransfer
	kindHandlerReplaced
	kindSignerBefore
	kindSignerAfter
	kindCC
	kindUrged
	kindApproved
	kindRejected
	kindExecution
	kindOther
	kindCount
)

// gatherTicketEvent adds the row of ev, an event of ticket id, to the statement of its
// kind in round; next is the ticket's next event in the batch, if any.
func gatherTicketEvent(round []*setRows, id string, ev, next *eventstore.RecordedEvent) error {
	e, err := ticket.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	at := eventTime(e, ev.Created)
	touch := !skipsTouch(e, next)
	add := func(kind int, vals ...any) {
		if round[kind] == nil {
			round[kind] = newSetRows(ticketStatements[kind])
		}
		round[kind].add(append([]any{id, at, int64(ev.Version), ev.Position.String(), touch}, vals...)...)
	}
	switch e := e.(type) {
	case *ticket.Submitted:
		fields, err := jsonObject(e.Fields)
		if err != nil {
			return err
		}
		route, err := jsonNodes(e.Route)
		if err != nil {
			return err
		}
		add(kindSubmitted, e.ProcessKey, e.ProcessVersion, e.System, e.BusinessKey, e.Submitter, e.Title, fields,
			jsonStrings(e.Watchers), route, jsonStrings(e.CC), nullTime(e.DueAt))
	case *ticket.NodeActivated:
		tasks := make([]activatedTask, len(e.Tasks))
		for i, t := range e.Tasks {
			tasks[i] = activatedTask{ID: t.ID, Assignee: t.Assignee, Status: string(t.Status)}
		}
		raw, err := json.Marshal(tasks)
		if err != nil {
			return fmt.Errorf("projections: encode tasks: %w", err)
		}
		add(kindActivated, e.Node, e.Index, e.Activation, nullTime(e.DueAt), string(raw))
	case *ticket.TaskApproval:
		set, removed := splitChanges(e.Changes)
		setJSON, err := jsonObject(set)
		if err != nil {
			return err
		}
		add(kindApproval, e.TaskID, e.By, e.Assignee, e.Decision.At, len(e.Changes) > 0, setJSON, jsonStrings(removed))
	case *ticket.TaskRejection:
		add(kindRejection, e.TaskID, e.By, e.Assignee, e.Decision.At)
	case *ticket.NodeCompleted:
		add(kindCompleted, e.Outcome)
	case *ticket.Returned:
		add(kindReturned, e.TaskID, e.By, e.Assignee, e.Decision.At, e.To == ticket.ToSubmitter)
	case *ticket.Resubmitted:
		fields, err := jsonObject(e.Fields)
		if err != nil {
			return err
		}
		route, err := jsonNodes(e.Route)
		if err != nil {
			return err
		}
		add(kindResubmitted, fields, route)
	case *ticket.Withdrawn:
		add(kindWithdrawn)
	case *ticket.TaskTransfer:
		add(kindTransfer, e.TaskID, e.By, e.Assignee, e.At, e.NewTask, e.To)
	case *ticket.HandlerReplaced:
		add(kindHandlerReplaced, e.From, e.To, jsonStrings(e.Nodes), jsonStrings(e.Tasks))
	case *ticket.SignerAdded:
		node, err := jsonNodes([]ticket.Node{e.New})
		if err != nil {
			return err
		}
		kind := kindSignerAfter
		if e.Where == ticket.Before {
			kind = kindSignerBefore
		}
		add(kind, e.Index, node)
	case *ticket.CCAdded:
		add(kindCC, e.By, jsonStrings(e.Users))
	case *ticket.Urged:
		add(kindUrged)
	case *ticket.Approved:
		add(kindApproved)
	case *ticket.Rejected:
		add(kindRejected)
	case *ticket.ExecutionReported:
		add(kindExecution, e.Status, e.Detail, e.ReportedBy)
	default:
		add(kindOther)
	}
	return nil
}

// skipsTouch reports whether the update of the ticket's row by e can be left out because
// next, the ticket's next event in the same batch, overwrites every column it sets, and
// nothing in between reads them. Every kind's update sets updated_at, version and
// last_position, so an event whose update sets nothing else (a decision without field
// changes, a transfer, a CC, a comment) skips it before any next event. A completed node
// sets no current node; the activation of the next node, and the final outcomes, set it
// again, and their statements do not read it first. A command's events come in one
// append, and so mostly in one batch: an approval that moves a ticket on updates its row
// once instead of three times.
func skipsTouch(e ticket.Event, next *eventstore.RecordedEvent) bool {
	if next == nil {
		return false
	}
	switch e := e.(type) {
	case *ticket.TaskApproval:
		return len(e.Changes) == 0
	case *ticket.TaskRejection, *ticket.TaskTransfer, *ticket.HandlerReplaced, *ticket.CCAdded, *ticket.Commented, *ticket.Reminded:
		return true
	case *ticket.NodeCompleted:
		switch next.Type {
		case ticket.TypeNodeActivated, ticket.TypeApproved, ticket.TypeRejected, ticket.TypeWithdrawn:
			return true
		}
	}
	return false
}

// activatedTask is a task of a node activation as the tasks statement reads it.
type activatedTask struct {
	ID       string `json:"task_id"`
	Assignee string `json:"assignee"`
	Status   string `json:"status"`
}

// eventColumns are the columns every ticket statement's rows start with: the ticket, the
// event's time, its version and its position in the log, and whether the statement
// updates the ticket's row (see skipsTouch).
var eventColumns = []string{"id text", "at timestamptz", "version bigint", "pos text", "touch bool"}

// decisionColumns follow eventColumns in the rows of decisions and transfers.
var decisionColumns = []string{"task_id text", "actor text", "assignee text", "decided timestamptz"}

func columns(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// touch is the update of the tickets of e by their events, with set (", col = expr...",
// over k, the ticket, and e) for what else the event changes.
func touch(set string) string {
	return `UPDATE tickets k SET updated_at = e.at, version = e.version, last_position = e.pos` + set + ` FROM e WHERE k.id = e.id AND e.touch`
}

// closeNode is the SET part of a touch that leaves no node active.
const closeNode = `, current_node = NULL, current_index = NULL, due_at = NULL`

const insertTicket = `INSERT INTO tickets (id, status, process_key, process_version, system, business_key,
	submitter, title, fields, watchers, ticket_due_at, submitted_at, updated_at, version, last_position)
SELECT e.id, 'in_progress', e.process_key, e.process_version, e.system, e.business_key, e.submitter, e.title,
	e.fields::jsonb, ARRAY(SELECT jsonb_array_elements_text(e.watchers::jsonb)), e.ticket_due, e.at, e.at, e.version, e.pos
FROM e
ON CONFLICT (id) DO UPDATE SET status = excluded.status, process_key = excluded.process_key, ticket_due_at = excluded.ticket_due_at,
	process_version = excluded.process_version, system = excluded.system, business_key = excluded.business_key,
	submitter = excluded.submitter, title = excluded.title, fields = excluded.fields, watchers = excluded.watchers,
	current_node = NULL, current_index = NULL, activation = 0, activated_at = NULL, due_at = NULL,
	urge_count = 0, last_urged_at = NULL, final_at = NULL, execution_status = NULL, execution_detail = NULL,
	execution_reported_by = NULL, executed_at = NULL, submitted_at = excluded.submitted_at,
	updated_at = excluded.updated_at, version = excluded.version, last_position = excluded.last_position`

// insertNodes inserts the nodes of e.nodes (a JSON array) at indexes from, from+1, ...
// (from an SQL expression over e).
func insertNodes(from string) string {
	return `INSERT INTO nodes (ticket_id, idx, key, name, mode, handlers, visible, reject_to, added_by)
		SELECT e.id, ` + from + ` + r.o - 1, r.n->>'key', coalesce(r.n->>'name', ''), coalesce(r.n->>'mode', ''),
			ARRAY(SELECT jsonb_array_elements_text(coalesce(r.n->'handlers', '[]'))),
			CASE WHEN jsonb_typeof(r.n->'visible') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(r.n->'visible')) END,
			coalesce(r.n->>'reject_to', ''), coalesce(r.n->>'added_by', '')
		FROM e, jsonb_array_elements(e.nodes::jsonb) WITH ORDINALITY AS r(n, o)`
}

// insertCC copies the users of e.users (a JSON array) in on the tickets of e, added by by
// (an SQL expression over e).
func insertCC(by string) string {
	return `INSERT INTO cc (principal, ticket_id, added_at, added_by)
		SELECT u, e.id, e.at, ` + by + ` FROM e, jsonb_array_elements_text(e.users::jsonb) u ON CONFLICT DO NOTHING`
}

// ticketStatements apply each kind of ticket event. The tasks and activations parts are
// in tasks.go and statistics.go.
var ticketStatements = [kindCount]*setStatement{
	kindSubmitted: newSetStatement(columns(eventColumns, []string{"process_key text", "process_version int",
		"system text", "business_key text", "submitter text", "title text", "fields text", "watchers text",
		"nodes text", "users text", "ticket_due timestamptz"}),
		insertNodes("0"), insertCC("e.submitter"), insertTicket),
	kindActivated: newSetStatement(columns(eventColumns, []string{"node text", "idx int", "activation int",
		"due timestamptz", "tasks text"}),
		insertActivatedTasks, insertActivation,
		touch(`, status = 'in_progress', current_node = e.node, current_index = e.idx, activation = e.activation,
			activated_at = e.at, due_at = e.due`)),
	kindApproval: newSetStatement(columns(eventColumns, decisionColumns, []string{"changed bool", "set_fields text", "removed text"}),
		decideTasks("approved"), promoteTasks,
		touch(`, fields = CASE WHEN e.changed THEN (k.fields || e.set_fields::jsonb) - ARRAY(SELECT jsonb_array_elements_text(e.removed::jsonb))
			ELSE k.fields END`)),
	kindRejection: newSetStatement(columns(eventColumns, decisionColumns),
		decideTasks("rejected"), touch("")),
	kindCompleted: newSetStatement(columns(eventColumns, []string{"outcome text"}),
		cancelOpenTasks("''"), endActivations("e.outcome"), touch(closeNode)),
	kindReturned: newSetStatement(columns(eventColumns, decisionColumns, []string{"to_submitter bool"}),
		decideTasks("returned"), cancelOpenTasks("e.task_id"), endActivations("'returned'"),
		touch(closeNode+`, status = CASE WHEN e.to_submitter THEN 'returned' ELSE k.status END`)),
	kindResubmitted: newSetStatement(columns(eventColumns, []string{"fields text", "nodes text"}),
		touch(closeNode+`, status = 'in_progress', fields = e.fields::jsonb`),
		`DELETE FROM nodes n USING e WHERE n.ticket_id = e.id`, insertNodes("0")),
	kindWithdrawn: newSetStatement(eventColumns,
		cancelOpenTasks("''"), endActivations("'withdrawn'"), touch(closeNode+`, status = 'withdrawn', final_at = e.at`)),
	kindTransfer: newSetStatement(columns(eventColumns, decisionColumns, []string{"new_task text", "new_assignee text"}),
		transferTasks, insertTransferredTasks, touch("")),
	kindHandlerReplaced: newSetStatement(columns(eventColumns, []string{"from_user text", "to_user text", "nodes text", "tasks text"}),
		replaceNodeHandlers, `UPDATE tasks t SET assignee = e.to_user
			FROM e WHERE t.ticket_id = e.id AND t.task_id IN (SELECT jsonb_array_elements_text(e.tasks::jsonb))`, touch("")),
	kindSignerBefore: newSetStatement(columns(eventColumns, []string{"idx int", "nodes text"}),
		shiftNodes, insertNodes("e.idx"), cancelOpenTasks("''"), endActivations("'signer-added'"), touch(closeNode)),
	kindSignerAfter: newSetStatement(columns(eventColumns, []string{"idx int", "nodes text"}),
		shiftNodes, insertNodes("e.idx"),
		touch(`, current_index = CASE WHEN e.idx <= k.current_index THEN k.current_index + 1 ELSE k.current_index END`)),
	kindCC: newSetStatement(columns(eventColumns, []string{"actor text", "users text"}),
		insertCC("e.actor"), touch("")),
	kindUrged: newSetStatement(eventColumns,
		touch(`, urge_count = k.urge_count + 1, last_urged_at = e.at`)),
	kindApproved: newSetStatement(eventColumns,
		cancelOpenTasks("''"), touch(closeNode+`, status = 'approved', final_at = e.at`)),
	kindRejected: newSetStatement(eventColumns,
		cancelOpenTasks("''"), touch(closeNode+`, status = 'rejected', final_at = e.at`)),
	kindExecution: newSetStatement(columns(eventColumns, []string{"status text", "detail text", "actor text"}),
		touch(`, execution_status = e.status, execution_detail = e.detail, execution_reported_by = e.actor, executed_at = e.at`)),
	kindOther: newSetStatement(eventColumns, touch("")),
}

// replaceNodeHandlers puts e.to_user in e.from_user's place among the handlers of the
// nodes of e whose keys are in e.nodes (a JSON array), once, in order
// (ticket.HandlerReplaced).
const replaceNodeHandlers = `UPDATE nodes n SET handlers = ARRAY(
		SELECT h FROM (SELECT CASE WHEN u.x = e.from_user THEN e.to_user ELSE u.x END AS h, min(u.o) AS o
			FROM unnest(n.handlers) WITH ORDINALITY AS u(x, o) GROUP BY 1) q ORDER BY q.o)
	FROM e WHERE n.ticket_id = e.id AND n.key IN (SELECT jsonb_array_elements_text(e.nodes::jsonb))`

// shiftNodes moves the nodes of the tickets of e at or after e.idx one index on.
const shiftNodes = `UPDATE nodes n SET idx = n.idx + 1 FROM e WHERE n.ticket_id = e.id AND n.idx >= e.idx`

// jsonNodes encodes route nodes as a JSON array.
func jsonNodes(nodes []ticket.Node) (string, error) {
	if len(nodes) == 0 {
		return "[]", nil
	}
	raw, err := json.Marshal(nodes)
	if err != nil {
		return "", fmt.Errorf("projections: encode route: %w", err)
	}
	return string(raw), nil
}

// jsonStrings encodes s as a JSON array ("[]" when empty).
func jsonStrings(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	raw, _ := json.Marshal(s)
	return string(raw)
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
	case *ticket.HandlerReplaced:
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

// splitChanges separates field changes into the values set and the fields removed (a
// JSON null), as ticket.Evolve merges them.
func splitChanges(changes ticket.Fields) (ticket.Fields, []string) {
	set := make(ticket.Fields, len(changes))
	removed := []string{}
	for k, v := range changes {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			removed = append(removed, k)
		} else {
			set[k] = v
		}
	}
	return set, removed
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
	// DueAt is when the active node is due; TicketDueAt when the whole ticket is (zero:
	// no limit).
	DueAt       time.Time
	TicketDueAt time.Time
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
	ARRAY(SELECT c.principal FROM rm_tickets.cc c WHERE c.ticket_id = k.id ORDER BY c.principal), k.ticket_due_at`

// scanTicket reads ticketColumns, followed by dest.
func scanTicket(row pgx.Row, t *Ticket, dest ...any) error {
	var (
		activatedAt, dueAt, urgedAt, finalAt, executedAt *time.Time
		ticketDueAt                                      *time.Time
		execStatus, execDetail, execBy                   *string
		version                                          int64
		pos                                              string
		status                                           string
	)
	err := row.Scan(append([]any{&t.ID, &status, &t.ProcessKey, &t.ProcessVersion, &t.System, &t.BusinessKey,
		&t.Submitter, &t.Title, &t.Watchers, &t.CurrentNode, &t.Activation, &activatedAt, &dueAt, &t.Urges,
		&urgedAt, &finalAt, &execStatus, &execDetail, &execBy, &executedAt,
		&t.SubmittedAt, &t.UpdatedAt, &version, &pos, &t.CC, &ticketDueAt}, dest...)...)
	if err != nil {
		return err
	}
	t.Status = ticket.Status(status)
	t.ActivatedAt, t.DueAt, t.LastUrgedAt, t.FinalAt = timeOf(activatedAt), timeOf(dueAt), timeOf(urgedAt), timeOf(finalAt)
	t.TicketDueAt = timeOf(ticketDueAt)
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
	var err error
	k.Handlers, err = t.withHandlers(ctx, id, time.Now(), func(row pgx.Row) error { return scanTicket(row, &k) },
		`SELECT `+ticketColumns+` FROM rm_tickets.tickets k WHERE k.id = $1`, id)
	return k, err
}

// handlersSQL selects the pending tasks of ticket $1 with the delegates active at $2. The
// ticket's tasks are read by its key first: asked for a ticket's pending tasks at once,
// PostgreSQL may walk the whole index of pending tasks (tasks_pending_idx, whose
// predicate matches and which holds ticket_id), every approver's pending work, to find a
// ticket's one or two (2.1 ms against 0.1 ms on a table of 15,000 tasks).
var handlersSQL = `WITH own AS MATERIALIZED (SELECT * FROM rm_tickets.tasks WHERE ticket_id = $1)
	SELECT t.task_id, t.node, t.assignee,
		ARRAY(SELECT DISTINCT g.delegate FROM rm_delegations.grants g
			WHERE g.principal = t.assignee AND ` + activeGrant("g", "$2", "t.process_key") + ` ORDER BY g.delegate)
	FROM own t WHERE t.status = 'pending' ORDER BY t.activation, t.ordinal`

// withHandlers runs the query of a ticket's row (sql with args, read by scan) and the query
// of its handlers at at in one round trip, and returns the handlers. A query that finds no
// ticket is a domain.NotFound *domain.Error.
func (t *Tickets) withHandlers(ctx context.Context, id string, at time.Time, scan func(pgx.Row) error, sql string, args ...any) ([]Handler, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue(handlersSQL, id, at)
	br := t.pool.SendBatch(ctx, b)
	defer br.Close()
	err := scan(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("projections: ticket %s: %w", id, err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("projections: handlers of %s: %w", id, err)
	}
	handlers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Handler, error) {
		var h Handler
		err := r.Scan(&h.TaskID, &h.Node, &h.Principal, &h.Delegates)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: handlers of %s: %w", id, err)
	}
	return handlers, br.Close()
}
