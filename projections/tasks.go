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

func queueActivatedTasks(b *script, id string, e *ticket.NodeActivated) {
	ids := make([]string, len(e.Tasks))
	assignees := make([]string, len(e.Tasks))
	statuses := make([]string, len(e.Tasks))
	for i, t := range e.Tasks {
		ids[i], assignees[i], statuses[i] = t.ID, t.Assignee, string(t.Status)
	}
	b.Queue(`INSERT INTO tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee, status, visible,
			created_at, pending_since, due_at)
		SELECT k.id, u.task_id, $2, u.o - 1, $3, k.process_key, u.assignee, u.status,
			(SELECT n.visible FROM nodes n WHERE n.ticket_id = k.id AND n.idx = $4 AND n.key = $3 LIMIT 1),
			$5, CASE WHEN u.status = 'pending' THEN $5::timestamptz END, $6
		FROM tickets k, unnest($7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS u(task_id, assignee, status, o)
		WHERE k.id = $1
		ON CONFLICT (ticket_id, task_id) DO NOTHING`,
		id, e.Activation, e.Node, e.Index, e.At, nullTime(e.DueAt), ids, assignees, statuses)
}

func queueDecided(b *script, id string, d ticket.Decision, status ticket.TaskStatus) {
	b.Queue(`UPDATE tasks SET status = $3, decided_at = $4, decided_by = $5::text,
			on_behalf_of = CASE WHEN $5::text <> $6::text THEN $6::text ELSE on_behalf_of END
		WHERE ticket_id = $1 AND task_id = $2`, id, d.TaskID, string(status), d.At, d.By, d.Assignee)
}

// queuePromotion makes the first waiting task of the active node pending.
func queuePromotion(b *script, id string, at time.Time) {
	b.Queue(`UPDATE tasks SET status = 'pending', pending_since = $2
		WHERE ticket_id = $1 AND task_id = (
			SELECT t.task_id FROM tasks t JOIN tickets k ON k.id = t.ticket_id
			WHERE t.ticket_id = $1 AND t.activation = k.activation AND k.current_node IS NOT NULL AND t.status = 'waiting'
			ORDER BY t.ordinal LIMIT 1)`, id, at)
}

// queueCancelOpen cancels the open tasks of the ticket but except, which the same event
// decides.
func queueCancelOpen(b *script, id, except string) {
	b.Queue(`UPDATE tasks SET status = 'cancelled' WHERE ticket_id = $1 AND status IN ('pending', 'waiting') AND task_id <> $2`, id, except)
}

func queueTransfer(b *script, id string, e *ticket.TaskTransfer) {
	b.Queue(`UPDATE tasks SET status = 'transferred', decided_at = $3, decided_by = $4::text,
			on_behalf_of = CASE WHEN $4::text <> $5::text THEN $5::text ELSE on_behalf_of END
		WHERE ticket_id = $1 AND task_id = $2`, id, e.TaskID, e.At, e.By, e.Assignee)
	b.Queue(`INSERT INTO tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee, status, visible,
			created_at, pending_since, due_at)
		SELECT o.ticket_id, $3, o.activation,
			(SELECT count(*) FROM tasks c WHERE c.ticket_id = o.ticket_id AND c.activation = o.activation),
			o.node, o.process_key, $4, 'pending', o.visible, $5, $5, o.due_at
		FROM tasks o WHERE o.ticket_id = $1 AND o.task_id = $2
		ON CONFLICT (ticket_id, task_id) DO NOTHING`, id, e.TaskID, e.NewTask, e.To, e.At)
}

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
	// DueAt is the task's due time, or for a ticket its active node's.
	DueAt time.Time
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
	if err != nil || c.List != list {
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
	k.status, coalesce(k.current_node, ''), k.submitted_at, k.updated_at`

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
			key                      time.Time
		)
		err := r.Scan(&it.TicketID, &it.Title, &it.BusinessKey, &it.ProcessKey, &it.ProcessVersion, &it.System,
			&it.Submitter, &ticketStatus, &it.CurrentNode, &it.SubmittedAt, &it.UpdatedAt,
			&it.TaskID, &it.Node, &it.Assignee, &taskStatus, &pending, &decided, &it.DecidedBy, &it.OnBehalfOf, &due, &key)
		it.TicketStatus, it.TaskStatus = ticket.Status(ticketStatus), ticket.TaskStatus(taskStatus)
		it.PendingSince, it.DecidedAt, it.DueAt = timeOf(pending), timeOf(decided), timeOf(due)
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
