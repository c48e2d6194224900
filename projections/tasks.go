package projections

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
)

// The task rows of the tickets projection follow ticket.Evolve: a node activation creates
// its tasks (pending, or waiting behind the earlier handlers of a sequential node); a
// decision closes one and, in a sequential node, makes the next waiting one pending; a
// transfer closes one and opens another for the new assignee; a node's completion, a
// return, a withdrawal, a final outcome or a signer added before the node cancels the
// tasks still open.

// insertActivatedTasks creates the tasks of the activations of e: e.tasks is a JSON
// array of {task_id, assignee, status}, in the order of the node's handlers.
const insertActivatedTasks = `INSERT INTO tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee,
		status, visible, created_at, pending_since, due_at)
	SELECT k.id, u.t->>'task_id', e.activation, u.o - 1, e.node, k.process_key, u.t->>'assignee', u.t->>'status',
		(SELECT n.visible FROM nodes n WHERE n.ticket_id = k.id AND n.idx = e.idx AND n.key = e.node LIMIT 1),
		e.at, CASE WHEN u.t->>'status' = 'pending' THEN e.at END, e.due
	FROM e JOIN tickets k ON k.id = e.id, jsonb_array_elements(e.tasks::jsonb) WITH ORDINALITY AS u(t, o)
	ON CONFLICT (ticket_id, task_id) DO NOTHING`

// decideTasks records the decisions of e (task_id, actor, assignee, decided) as status.
func decideTasks(status string) string {
	return `UPDATE tasks t SET status = '` + status + `', decided_at = e.decided, decided_by = e.actor,
			on_behalf_of = CASE WHEN e.actor <> e.assignee THEN e.assignee ELSE t.on_behalf_of END
		FROM e WHERE t.ticket_id = e.id AND t.task_id = e.task_id`
}

// promoteTasks makes the first waiting task of each ticket's active node pending. It
// looks for waiting tasks first (tasks_waiting_idx), which most tickets have none of, and
// reads a ticket's row only for those it finds.
const promoteTasks = `UPDATE tasks t SET status = 'pending', pending_since = e.decided
	FROM e CROSS JOIN LATERAL (SELECT w.task_id FROM tasks w
			JOIN tickets k ON k.id = w.ticket_id AND k.current_node IS NOT NULL AND k.activation = w.activation
			WHERE w.ticket_id = e.id AND w.status = 'waiting'
			ORDER BY w.ordinal LIMIT 1) p
	WHERE t.ticket_id = e.id AND t.task_id = p.task_id`

// cancelOpenTasks cancels the open tasks of the tickets of e but except (an SQL
// expression over e), which the same event decides.
func cancelOpenTasks(except string) string {
	return `UPDATE tasks t SET status = 'cancelled' FROM e
		WHERE t.ticket_id = e.id AND t.status IN ('pending', 'waiting') AND t.task_id <> ` + except
}

// transferTasks closes the tasks of e transferred.
const transferTasks = `UPDATE tasks t SET status = 'transferred', decided_at = e.decided, decided_by = e.actor,
		on_behalf_of = CASE WHEN e.actor <> e.assignee THEN e.assignee ELSE t.on_behalf_of END
	FROM e WHERE t.ticket_id = e.id AND t.task_id = e.task_id`

// insertTransferredTasks opens the tasks e.new_task for the new assignees e.new_assignee.
const insertTransferredTasks = `INSERT INTO tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee,
		status, visible, created_at, pending_since, due_at)
	SELECT o.ticket_id, e.new_task, o.activation,
		(SELECT count(*) FROM tasks c WHERE c.ticket_id = o.ticket_id AND c.activation = o.activation),
		o.node, o.process_key, e.new_assignee, 'pending', o.visible, e.decided, e.decided, o.due_at
	FROM e JOIN tasks o ON o.ticket_id = e.id AND o.task_id = e.task_id
	ON CONFLICT (ticket_id, task_id) DO NOTHING`

// Workbench answers the approvers' lists (工作台) from the task rows of the tickets
// projection and the grants of the delegations projection: to wait for a command's
// effect, wait for both. Safe for concurrent use.
type Workbench struct {
	pool *pgxpool.Pool
}

// NewWorkbench returns the workbench queries over pool.
func NewWorkbench(pool *pgxpool.Pool) *Workbench { return &Workbench{pool: pool} }

// List names a workbench list.
type List string

// The workbench lists.
const (
	// Pending: the tasks waiting for the principal's decision, and those of principals
	// whose active delegate they are (for the ticket's process), oldest first.
	Pending List = "pending"
	// Done: the tasks the principal decided or transferred, or a delegate did on their
	// behalf, most recent first.
	Done List = "done"
	// Submitted: the tickets the principal submitted, most recent first.
	Submitted List = "submitted"
	// CCd: the tickets the principal is copied in on, most recently copied first.
	CCd List = "cc"
)

// Defaults and bounds of WorkbenchQuery.Limit.
const (
	DefaultPageSize = 20
	MaxPageSize     = 200
)

// WorkbenchQuery selects a page of a list.
type WorkbenchQuery struct {
	Principal string
	List      List
	// Process keeps the items of this process key.
	Process string
	// Status keeps the items in this status: a ticket.TaskStatus for Pending and Done, a
	// ticket.Status for Submitted and CCd.
	Status string
	// DueBefore keeps the items due before this instant (tasks' or active nodes' due time).
	DueBefore time.Time
	// Text keeps the items whose title or business key contains it, ignoring case.
	Text string
	// Limit is the page size: default DefaultPageSize, at most MaxPageSize.
	Limit int
	// Cursor continues a list from a page's Next; empty starts at the beginning.
	Cursor string
	// At is the instant at which delegations must be active; zero means now.
	At time.Time
}

// WorkItem is one entry of a list: a task (Pending, Done) or a ticket (Submitted, CCd).
type WorkItem struct {
	TicketID       string
	Title          string
	BusinessKey    string
	ProcessKey     string
	ProcessVersion int
	System         string
	Submitter      string
	TicketStatus   ticket.Status
	CurrentNode    string
	SubmittedAt    time.Time
	UpdatedAt      time.Time
	// The task, for Pending and Done; empty for ticket lists.
	TaskID       string
	Node         string
	Assignee     string
	TaskStatus   ticket.TaskStatus
	PendingSince time.Time
	DecidedAt    time.Time
	DecidedBy    string
	OnBehalfOf   string
	// DueAt is the task's due time, or for a ticket its active node's; TicketDueAt the
	// whole ticket's (zero: no limit).
	DueAt       time.Time
	TicketDueAt time.Time
	// AsDelegate is set on a pending task the principal may decide for its assignee.
	AsDelegate bool
}

// WorkPage is a page of a list. Next continues it; it is empty after the last page.
type WorkPage struct {
	Items []WorkItem
	Next  string
}

// Counts are the sizes of the lists of a principal under the same filters.
type Counts struct {
	Pending, Done, Submitted, CC int64
}

type cursor struct {
	List   List      `json:"l"`
	At     time.Time `json:"t"`
	Ticket string    `json:"k"`
	Task   string    `json:"s,omitempty"`
}

func (c cursor) encode() string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string, list List) (cursor, error) {
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.List != list || !domain.StorableText(c.Ticket) || !domain.StorableText(c.Task) {
		// A cursor is the client's to send back: one made up to hold a NUL must not reach
		// the database, which refuses it.
		return c, domain.FieldError("invalid", "cursor", "not a cursor of the %s list", list)
	}
	return c, nil
}

// args collects query arguments and returns their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// listQuery is the FROM, WHERE and ORDER BY of a list, and its sort key columns. The
// WHERE is where AND one of the disjoint branches; a page reads each branch in index
// order and merges them.
type listQuery struct {
	from, where, order string
	branches           []string
	keyTime, keyTicket string
	keyTask            string
	desc               bool
}

const workItemColumns = `k.id, k.title, k.business_key, k.process_key, k.process_version, k.system, k.submitter,
	k.status, coalesce(k.current_node, ''), k.submitted_at, k.updated_at, k.ticket_due_at`

const taskItemColumns = `, t.task_id, t.node, t.assignee, t.status, t.pending_since, t.decided_at,
	coalesce(t.decided_by, ''), coalesce(t.on_behalf_of, ''), t.due_at`

const ticketItemColumns = `, '', '', '', '', NULL::timestamptz, NULL::timestamptz, '', '', k.due_at`

// build returns the parts of list's query for q, appending arguments to a.
func build(list List, q WorkbenchQuery, a *args) (listQuery, error) {
	p := a.add(q.Principal)
	var lq listQuery
	var conds []string
	statusCol, dueCol := "t.status", "t.due_at"
	switch list {
	case Pending:
		at := q.At
		if at.IsZero() {
			at = time.Now()
		}
		atp := a.add(at)
		lq = listQuery{
			from:    `rm_tickets.tasks t JOIN rm_tickets.tickets k ON k.id = t.ticket_id`,
			keyTime: "t.pending_since", keyTicket: "t.ticket_id", keyTask: "t.task_id",
		}
		acting := `SELECT g.principal, g.processes FROM rm_delegations.grants g WHERE g.delegate = ` + p + ` AND ` + activeGrant("g", atp, "")
		conds = append(conds, `t.status = 'pending'`)
		lq.branches = []string{`t.assignee = ` + p,
			`t.assignee <> ` + p + ` AND t.assignee = ANY (ARRAY(SELECT a.principal FROM (` + acting + `) a))
				AND EXISTS (SELECT 1 FROM (` + acting + `) a WHERE a.principal = t.assignee
					AND (cardinality(a.processes) = 0 OR t.process_key = ANY (a.processes)))`}
	case Done:
		lq = listQuery{
			from:    `rm_tickets.tasks t JOIN rm_tickets.tickets k ON k.id = t.ticket_id`,
			keyTime: "t.decided_at", keyTicket: "t.ticket_id", keyTask: "t.task_id", desc: true,
		}
		conds = append(conds, `t.status IN ('approved', 'rejected', 'returned', 'transferred')`)
		lq.branches = []string{`t.decided_by = ` + p, `t.on_behalf_of = ` + p}
	case Submitted:
		lq = listQuery{from: `rm_tickets.tickets k`, keyTime: "k.submitted_at", keyTicket: "k.id", desc: true}
		lq.branches = []string{`k.submitter = ` + p}
		statusCol, dueCol = "k.status", "k.due_at"
	case CCd:
		lq = listQuery{
			from:    `rm_tickets.cc c JOIN rm_tickets.tickets k ON k.id = c.ticket_id`,
			keyTime: "c.added_at", keyTicket: "c.ticket_id", desc: true,
		}
		lq.branches = []string{`c.principal = ` + p}
		statusCol, dueCol = "k.status", "k.due_at"
	default:
		return lq, domain.FieldError("invalid", "list", "unknown list %q", list)
	}
	if q.Process != "" {
		conds = append(conds, `k.process_key = `+a.add(q.Process))
	}
	if q.Status != "" {
		conds = append(conds, statusCol+` = `+a.add(q.Status))
	}
	if !q.DueBefore.IsZero() {
		conds = append(conds, dueCol+` < `+a.add(q.DueBefore))
	}
	if q.Text != "" {
		tp := a.add(strings.ToLower(q.Text))
		conds = append(conds, `(strpos(lower(k.title), `+tp+`) > 0 OR strpos(lower(k.business_key), `+tp+`) > 0)`)
	}
	lq.where = "true"
	if len(conds) > 0 {
		lq.where = strings.Join(conds, " AND ")
	}
	dir := dirOf(lq.desc)
	keys := []string{lq.keyTime + dir, lq.keyTicket + dir}
	if lq.keyTask != "" {
		keys = append(keys, lq.keyTask+dir)
	}
	lq.order = strings.Join(keys, ", ")
	return lq, nil
}

func dirOf(desc bool) string {
	if desc {
		return " DESC"
	}
	return ""
}

// List returns a page of one of the principal's lists, in the list's stable order:
// (time, ticket id, task id) ascending for Pending, descending for the others. Pages
// follow each other by keyset (Cursor), so items neither repeat nor go missing when rows
// are added before the cursor. Errors: a domain.Invalid *domain.Error for an unknown
// list, a missing principal or a cursor of another list; database errors.
func (w *Workbench) List(ctx context.Context, q WorkbenchQuery) (WorkPage, error) {
	if q.Principal == "" {
		return WorkPage{}, domain.FieldError("required", "principal", "name the principal")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var a args
	lq, err := build(q.List, q, &a)
	if err != nil {
		return WorkPage{}, err
	}
	where := lq.where
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, q.List)
		if err != nil {
			return WorkPage{}, err
		}
		op := ">"
		if lq.desc {
			op = "<"
		}
		if lq.keyTask != "" {
			where += fmt.Sprintf(` AND (%s, %s, %s) %s (%s, %s, %s)`, lq.keyTime, lq.keyTicket, lq.keyTask, op,
				a.add(c.At), a.add(c.Ticket), a.add(c.Task))
		} else {
			where += fmt.Sprintf(` AND (%s, %s) %s (%s, %s)`, lq.keyTime, lq.keyTicket, op, a.add(c.At), a.add(c.Ticket))
		}
	}
	cols := workItemColumns + ticketItemColumns
	outer := "x.sort_at" + dirOf(lq.desc) + ", x.id" + dirOf(lq.desc)
	if lq.keyTask != "" {
		cols = workItemColumns + taskItemColumns
		outer += ", x.task_id" + dirOf(lq.desc)
	}
	lp := a.add(limit + 1)
	parts := make([]string, len(lq.branches))
	for i, br := range lq.branches {
		parts[i] = `(SELECT ` + cols + `, ` + lq.keyTime + ` AS sort_at FROM ` + lq.from + ` WHERE ` + where + ` AND ` + br +
			` ORDER BY ` + lq.order + ` LIMIT ` + lp + `)`
	}
	sql := parts[0]
	if len(parts) > 1 {
		sql = `SELECT * FROM (` + strings.Join(parts, " UNION ALL ") + `) x ORDER BY ` + outer + ` LIMIT ` + lp
	}
	rows, err := w.pool.Query(ctx, sql, a...)
	if err != nil {
		return WorkPage{}, fmt.Errorf("projections: workbench %s list: %w", q.List, err)
	}
	var keys []time.Time
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkItem, error) {
		var (
			it                       WorkItem
			ticketStatus, taskStatus string
			pending, decided, due    *time.Time
			ticketDue                *time.Time
			key                      time.Time
		)
		err := r.Scan(&it.TicketID, &it.Title, &it.BusinessKey, &it.ProcessKey, &it.ProcessVersion, &it.System,
			&it.Submitter, &ticketStatus, &it.CurrentNode, &it.SubmittedAt, &it.UpdatedAt, &ticketDue,
			&it.TaskID, &it.Node, &it.Assignee, &taskStatus, &pending, &decided, &it.DecidedBy, &it.OnBehalfOf, &due, &key)
		it.TicketStatus, it.TaskStatus = ticket.Status(ticketStatus), ticket.TaskStatus(taskStatus)
		it.PendingSince, it.DecidedAt, it.DueAt, it.TicketDueAt = timeOf(pending), timeOf(decided), timeOf(due), timeOf(ticketDue)
		it.AsDelegate = q.List == Pending && it.Assignee != q.Principal
		keys = append(keys, key)
		return it, err
	})
	if err != nil {
		return WorkPage{}, fmt.Errorf("projections: workbench %s list: %w", q.List, err)
	}
	page := WorkPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.Next = cursor{List: q.List, At: keys[limit-1], Ticket: last.TicketID, Task: last.TaskID}.encode()
	}
	return page, nil
}

// Counts returns the number of items of each of the principal's lists under q's filters
// (q.List, Cursor and Limit are ignored), in one round trip. Errors as List's.
func (w *Workbench) Counts(ctx context.Context, q WorkbenchQuery) (Counts, error) {
	if q.Principal == "" {
		return Counts{}, domain.FieldError("required", "principal", "name the principal")
	}
	var a args
	parts := make([]string, 0, 4)
	for _, l := range []List{Pending, Done, Submitted, CCd} {
		lq, err := build(l, q, &a)
		if err != nil {
			return Counts{}, err
		}
		parts = append(parts, `(SELECT count(*) FROM `+lq.from+` WHERE `+lq.where+` AND ((`+strings.Join(lq.branches, ") OR (")+`)))`)
	}
	var c Counts
	err := w.pool.QueryRow(ctx, `SELECT `+strings.Join(parts, ", "), a...).Scan(&c.Pending, &c.Done, &c.Submitted, &c.CC)
	if err != nil {
		return c, fmt.Errorf("projections: workbench counts: %w", err)
	}
	return c, nil
}

// HeldBy returns, in id order after the id after, up to limit ids of the open tickets on
// which principal holds work: a pending or waiting task, or a place among the handlers of
// a node of the route. It serves an admin's handover (离职交接) and reads every open
// ticket's row, with its nodes and tasks by index.
func (w *Workbench) HeldBy(ctx context.Context, principal, after string, limit int) ([]string, error) {
	rows, err := w.pool.Query(ctx, `SELECT k.id FROM rm_tickets.tickets k
		WHERE k.status IN ('in_progress', 'returned') AND k.id > $2
			AND (EXISTS (SELECT 1 FROM rm_tickets.nodes n WHERE n.ticket_id = k.id AND $1 = ANY (n.handlers))
				OR EXISTS (SELECT 1 FROM rm_tickets.tasks t WHERE t.ticket_id = k.id AND t.assignee = $1 AND t.status IN ('pending', 'waiting')))
		ORDER BY k.id LIMIT $3`, principal, after, limit)
	if err != nil {
		return nil, fmt.Errorf("projections: tickets held by %s: %w", principal, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("projections: tickets held by %s: %w", principal, err)
	}
	return ids, nil
}
