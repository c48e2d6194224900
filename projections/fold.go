package projections

import (
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// A batch of several events (a rebuild's replay, a live batch under load) writes the
// tickets whose streams start in it (their first event, version 1, is in it) without the
// statements of ticketStatements: it folds each such ticket's events in memory into the
// rows those statements would leave, and inserts every row once, where the statements
// would write and rewrite the rows event after event. The fold mirrors the statements
// part by part; whatever it does not mirror exactly (an event it does not know, a second
// submission, a choice the statements leave to the database) makes it decline the
// ticket, whose events then go through the statements. A batch of one event always goes
// through the statements. TestSetWritesMatchEventByEvent holds the two to the same rows.

// errDecline is the fold declining a ticket.
var errDecline = errors.New("projections: the fold leaves this ticket to the statements")

// freshTicket is a ticket folded from the start of its stream.
type freshTicket struct {
	id     string
	row    ticketRow
	fields ticket.Fields
	nodes  []nodeRow
	cc     []ccRow
	tasks  []taskRow
	acts   []activationRow
}

type ticketRow struct {
	status, processKey, system, businessKey, submitter, title string
	processVersion                                            int
	watchers                                                  []string
	currentNode                                               *string
	currentIndex                                              *int
	activation, urges                                         int
	activatedAt, dueAt, lastUrgedAt, finalAt, executedAt      *time.Time
	ticketDueAt                                               *time.Time
	execStatus, execDetail, execBy                            *string
	submittedAt, updatedAt                                    time.Time
	version                                                   int64
	position                                                  string
}

type nodeRow struct {
	idx                                int
	key, name, mode, rejectTo, addedBy string
	handlers                           []string
	visible                            []string // nil is NULL
	hasVisible                         bool
}

type ccRow struct {
	principal, addedBy string
	addedAt            time.Time
}

type taskRow struct {
	id, node, processKey, assignee, status string
	activation, ordinal                    int
	visible                                []string
	hasVisible                             bool
	createdAt                              time.Time
	pendingSince, dueAt, decidedAt         *time.Time
	decidedBy, onBehalfOf                  *string
}

type activationRow struct {
	activation       int
	node, processKey string
	activatedAt      time.Time
	dueAt, endedAt   *time.Time
	outcome          *string
}

// foldTicket folds events, the stream of ticket id from its first event on.
func foldTicket(id string, events []*eventstore.RecordedEvent) (*freshTicket, error) {
	var f *freshTicket
	for _, ev := range events {
		e, err := ticket.Decode(ev.Type, ev.Data)
		if err != nil {
			return nil, err
		}
		at := eventTime(e, ev.Created)
		if f == nil {
			s, ok := e.(*ticket.Submitted)
			if !ok {
				return nil, errDecline
			}
			if f, err = submitted(id, s, at); err != nil {
				return nil, err
			}
		} else if err := f.apply(e, at); err != nil {
			return nil, err
		}
		f.row.updatedAt, f.row.version, f.row.position = at, int64(ev.Version), ev.Position.String()
	}
	return f, nil
}

// submitted is what insertNodes, insertCC and insertTicket write for s.
func submitted(id string, s *ticket.Submitted, at time.Time) (*freshTicket, error) {
	f := &freshTicket{id: id, fields: ticket.Fields{}, row: ticketRow{status: string(ticket.StatusInProgress),
		processKey: s.ProcessKey, processVersion: s.ProcessVersion, system: s.System, businessKey: s.BusinessKey,
		submitter: s.Submitter, title: s.Title, watchers: nonNil(s.Watchers), submittedAt: at, ticketDueAt: timePtr(s.DueAt)}}
	for k, v := range s.Fields {
		f.fields[k] = v
	}
	if err := f.insertNodes(0, s.Route); err != nil {
		return nil, err
	}
	f.addCC(s.CC, at, s.Submitter)
	return f, nil
}

// apply folds one event after the first, as the statement of its kind writes it: every
// part reads the rows as they were before the event.
func (f *freshTicket) apply(e ticket.Event, at time.Time) error {
	k := &f.row
	switch e := e.(type) {
	case *ticket.NodeActivated:
		if err := f.activatedTasks(e, at); err != nil {
			return err
		}
		if f.activation(e.Activation) == nil {
			f.acts = append(f.acts, activationRow{activation: e.Activation, node: e.Node, processKey: k.processKey,
				activatedAt: at, dueAt: timePtr(e.DueAt)})
		}
		node, index := e.Node, e.Index
		k.status, k.currentNode, k.currentIndex, k.activation, k.activatedAt, k.dueAt =
			string(ticket.StatusInProgress), &node, &index, e.Activation, &at, timePtr(e.DueAt)
	case *ticket.TaskApproval:
		promoted, err := f.promotion()
		if err != nil {
			return err
		}
		if promoted != nil && promoted.id == e.TaskID {
			// Both parts would write the same row.
			return errDecline
		}
		f.decide(e.Decision, ticket.TaskApproved)
		if promoted != nil {
			decided := e.Decision.At
			promoted.status, promoted.pendingSince = string(ticket.TaskPending), &decided
		}
		if len(e.Changes) > 0 {
			set, removed := splitChanges(e.Changes)
			for name, v := range set {
				f.fields[name] = v
			}
			for _, name := range removed {
				delete(f.fields, name)
			}
		}
	case *ticket.TaskRejection:
		f.decide(e.Decision, ticket.TaskRejected)
	case *ticket.NodeCompleted:
		f.cancelOpen("")
		f.endActivations(at, e.Outcome)
		f.closeNode()
	case *ticket.Returned:
		f.decide(e.Decision, ticket.TaskReturned)
		f.cancelOpen(e.TaskID)
		f.endActivations(at, "returned")
		f.closeNode()
		if e.To == ticket.ToSubmitter {
			k.status = string(ticket.StatusReturned)
		}
	case *ticket.Resubmitted:
		f.closeNode()
		k.status = string(ticket.StatusInProgress)
		f.fields = ticket.Fields{}
		for name, v := range e.Fields {
			f.fields[name] = v
		}
		f.nodes = nil
		if err := f.insertNodes(0, e.Route); err != nil {
			return err
		}
	case *ticket.Withdrawn:
		f.cancelOpen("")
		f.endActivations(at, "withdrawn")
		f.closeNode()
		k.status, k.finalAt = string(ticket.StatusWithdrawn), &at
	case *ticket.TaskTransfer:
		return f.transfer(e)
	case *ticket.HandlerReplaced:
		for i := range f.nodes {
			if slices.Contains(e.Nodes, f.nodes[i].key) {
				f.nodes[i].handlers = ticket.ReplaceHandler(f.nodes[i].handlers, e.From, e.To)
			}
		}
		for _, id := range e.Tasks {
			if t := f.task(id); t != nil {
				t.assignee = e.To
			}
		}
	case *ticket.SignerAdded:
		for i := range f.nodes {
			if f.nodes[i].idx >= e.Index {
				f.nodes[i].idx++
			}
		}
		if err := f.insertNodes(e.Index, []ticket.Node{e.New}); err != nil {
			return err
		}
		if e.Where == ticket.Before {
			f.cancelOpen("")
			f.endActivations(at, "signer-added")
			f.closeNode()
		} else if k.currentIndex != nil && e.Index <= *k.currentIndex {
			index := *k.currentIndex + 1
			k.currentIndex = &index
		}
	case *ticket.CCAdded:
		f.addCC(e.Users, at, e.By)
	case *ticket.Urged:
		k.urges++
		k.lastUrgedAt = &at
	case *ticket.Approved:
		f.cancelOpen("")
		f.closeNode()
		k.status, k.finalAt = string(ticket.StatusApproved), &at
	case *ticket.Rejected:
		f.cancelOpen("")
		f.closeNode()
		k.status, k.finalAt = string(ticket.StatusRejected), &at
	case *ticket.ExecutionReported:
		status, detail, by := e.Status, e.Detail, e.ReportedBy
		k.execStatus, k.execDetail, k.execBy, k.executedAt = &status, &detail, &by, &at
	case *ticket.Commented, *ticket.Reminded:
	default:
		return errDecline
	}
	return nil
}

// insertNodes is insertNodes: the nodes at indexes from, from+1, ... as their JSON reads.
func (f *freshTicket) insertNodes(from int, nodes []ticket.Node) error {
	for i, n := range nodes {
		if n.Handlers == nil {
			// JSON null, which the statement cannot read as an array.
			return errDecline
		}
		f.nodes = append(f.nodes, nodeRow{idx: from + i, key: n.Key, name: n.Name, mode: string(n.Mode),
			handlers: n.Handlers, visible: n.Visible, hasVisible: n.Visible != nil, rejectTo: n.RejectTo, addedBy: n.AddedBy})
	}
	return nil
}

// addCC is insertCC: users not yet copied in.
func (f *freshTicket) addCC(users []string, at time.Time, by string) {
	for _, u := range users {
		if !slices.ContainsFunc(f.cc, func(c ccRow) bool { return c.principal == u }) {
			f.cc = append(f.cc, ccRow{principal: u, addedAt: at, addedBy: by})
		}
	}
}

func (f *freshTicket) task(id string) *taskRow {
	for i := range f.tasks {
		if f.tasks[i].id == id {
			return &f.tasks[i]
		}
	}
	return nil
}

func (f *freshTicket) activation(n int) *activationRow {
	for i := range f.acts {
		if f.acts[i].activation == n {
			return &f.acts[i]
		}
	}
	return nil
}

// activatedTasks is insertActivatedTasks, at the event's time at.
func (f *freshTicket) activatedTasks(e *ticket.NodeActivated, at time.Time) error {
	var visible *nodeRow
	for i := range f.nodes {
		if n := &f.nodes[i]; n.idx == e.Index && n.key == e.Node {
			if visible != nil {
				// The statement takes any one of them.
				return errDecline
			}
			visible = n
		}
	}
	for i, t := range e.Tasks {
		if f.task(t.ID) != nil {
			continue
		}
		row := taskRow{id: t.ID, activation: e.Activation, ordinal: i, node: e.Node, processKey: f.row.processKey,
			assignee: t.Assignee, status: string(t.Status), createdAt: at, dueAt: timePtr(e.DueAt)}
		if visible != nil {
			row.visible, row.hasVisible = visible.visible, visible.hasVisible
		}
		if t.Status == ticket.TaskPending {
			row.pendingSince = &at
		}
		f.tasks = append(f.tasks, row)
	}
	return nil
}

// decide is decideTasks.
func (f *freshTicket) decide(d ticket.Decision, status ticket.TaskStatus) {
	t := f.task(d.TaskID)
	if t == nil {
		return
	}
	by, decided := d.By, d.At
	t.status, t.decidedAt, t.decidedBy = string(status), &decided, &by
	if d.By != d.Assignee {
		assignee := d.Assignee
		t.onBehalfOf = &assignee
	}
}

// promotion is the task promoteTasks makes pending, nil when none.
func (f *freshTicket) promotion() (*taskRow, error) {
	if f.row.currentNode == nil {
		return nil, nil
	}
	var first *taskRow
	for i := range f.tasks {
		t := &f.tasks[i]
		if t.activation != f.row.activation || t.status != string(ticket.TaskWaiting) {
			continue
		}
		if first != nil && t.ordinal == first.ordinal {
			// The statement takes any one of them.
			return nil, errDecline
		}
		if first == nil || t.ordinal < first.ordinal {
			first = t
		}
	}
	return first, nil
}

// cancelOpen is cancelOpenTasks.
func (f *freshTicket) cancelOpen(except string) {
	for i := range f.tasks {
		t := &f.tasks[i]
		if (t.status == string(ticket.TaskPending) || t.status == string(ticket.TaskWaiting)) && t.id != except {
			t.status = string(ticket.TaskCancelled)
		}
	}
}

// endActivations is endActivations.
func (f *freshTicket) endActivations(at time.Time, outcome string) {
	for i := range f.acts {
		if a := &f.acts[i]; a.endedAt == nil {
			a.endedAt, a.outcome = &at, &outcome
		}
	}
}

func (f *freshTicket) closeNode() {
	f.row.currentNode, f.row.currentIndex, f.row.dueAt = nil, nil, nil
}

// transfer is transferTasks and insertTransferredTasks.
func (f *freshTicket) transfer(e *ticket.TaskTransfer) error {
	old := f.task(e.TaskID)
	if old == nil {
		return nil
	}
	prior := *old
	by, decided := e.By, e.At
	old.status, old.decidedAt, old.decidedBy = string(ticket.TaskTransferred), &decided, &by
	if e.By != e.Assignee {
		assignee := e.Assignee
		old.onBehalfOf = &assignee
	}
	if f.task(e.NewTask) != nil {
		return nil
	}
	ordinal := 0
	for _, t := range f.tasks {
		if t.activation == prior.activation {
			ordinal++
		}
	}
	f.tasks = append(f.tasks, taskRow{id: e.NewTask, activation: prior.activation, ordinal: ordinal, node: prior.node,
		processKey: prior.processKey, assignee: e.To, status: string(ticket.TaskPending), visible: prior.visible,
		hasVisible: prior.hasVisible, createdAt: e.At, pendingSince: &decided, dueAt: prior.dueAt})
	return nil
}

// timePtr is t as nullTime passes it to the statements: nil (NULL) when zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// freshRows gathers the rows of folded tickets into the insert statements.
type freshRows struct {
	tickets, nodes, cc, tasks, acts *setRows
}

func newFreshRows() *freshRows {
	return &freshRows{tickets: newSetRows(insertFreshTickets), nodes: newSetRows(insertFreshNodes),
		cc: newSetRows(insertFreshCC), tasks: newSetRows(insertFreshTasks), acts: newSetRows(insertFreshActivations)}
}

func (r *freshRows) add(f *freshTicket) error {
	k := &f.row
	fields, err := jsonObject(f.fields)
	if err != nil {
		return err
	}
	r.tickets.add(f.id, k.status, k.processKey, k.processVersion, k.system, k.businessKey, k.submitter, k.title, fields,
		jsonStrings(k.watchers), strPtr(k.currentNode), intPtr(k.currentIndex), k.activation, nullTimePtr(k.activatedAt),
		nullTimePtr(k.dueAt), k.urges, nullTimePtr(k.lastUrgedAt), nullTimePtr(k.finalAt), strPtr(k.execStatus),
		strPtr(k.execDetail), strPtr(k.execBy), nullTimePtr(k.executedAt), k.submittedAt, k.updatedAt, k.version, k.position,
		nullTimePtr(k.ticketDueAt))
	for _, n := range f.nodes {
		r.nodes.add(f.id, n.idx, n.key, n.name, n.mode, jsonStrings(n.handlers), jsonArray(n.visible, n.hasVisible), n.rejectTo, n.addedBy)
	}
	for _, c := range f.cc {
		r.cc.add(c.principal, f.id, c.addedAt, c.addedBy)
	}
	for _, t := range f.tasks {
		r.tasks.add(f.id, t.id, t.activation, t.ordinal, t.node, t.processKey, t.assignee, t.status,
			jsonArray(t.visible, t.hasVisible), t.createdAt, nullTimePtr(t.pendingSince), nullTimePtr(t.dueAt),
			nullTimePtr(t.decidedAt), strPtr(t.decidedBy), strPtr(t.onBehalfOf))
	}
	for _, a := range f.acts {
		r.acts.add(f.id, a.activation, a.node, a.processKey, a.activatedAt, nullTimePtr(a.dueAt), nullTimePtr(a.endedAt), strPtr(a.outcome))
	}
	return nil
}

func (r *freshRows) queue(b *pgx.Batch) {
	for _, rows := range []*setRows{r.tickets, r.nodes, r.cc, r.tasks, r.acts} {
		if rows.len() > 0 {
			rows.queue(b)
		}
	}
}

// jsonArray is s as a JSON array, or NULL unless present.
func jsonArray(s []string, present bool) any {
	if !present {
		return nil
	}
	return jsonStrings(s)
}

func strPtr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func intPtr(n *int) any {
	if n == nil {
		return nil
	}
	return *n
}

func nullTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// fromJSONArray reads the text array that col holds as a JSON array, NULL for NULL.
func fromJSONArray(col string) string {
	return `CASE WHEN ` + col + ` IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(` + col + `::jsonb)) END`
}

var (
	insertFreshTickets = newSetStatement([]string{"id text", "status text", "process_key text", "process_version int",
		"system text", "business_key text", "submitter text", "title text", "fields text", "watchers text",
		"current_node text", "current_index int", "activation int", "activated_at timestamptz", "due_at timestamptz",
		"urge_count int", "last_urged_at timestamptz", "final_at timestamptz", "execution_status text",
		"execution_detail text", "execution_reported_by text", "executed_at timestamptz", "submitted_at timestamptz",
		"updated_at timestamptz", "version bigint", "last_position text", "ticket_due_at timestamptz"},
		`INSERT INTO tickets (id, status, process_key, process_version, system, business_key, submitter, title, fields,
			watchers, current_node, current_index, activation, activated_at, due_at, urge_count, last_urged_at, final_at,
			execution_status, execution_detail, execution_reported_by, executed_at, submitted_at, updated_at, version,
			last_position, ticket_due_at)
		SELECT e.id, e.status, e.process_key, e.process_version, e.system, e.business_key, e.submitter, e.title,
			e.fields::jsonb, ARRAY(SELECT jsonb_array_elements_text(e.watchers::jsonb)), e.current_node, e.current_index,
			e.activation, e.activated_at, e.due_at, e.urge_count, e.last_urged_at, e.final_at, e.execution_status,
			e.execution_detail, e.execution_reported_by, e.executed_at, e.submitted_at, e.updated_at, e.version,
			e.last_position, e.ticket_due_at
		FROM e ORDER BY e.n`)
	insertFreshNodes = newSetStatement([]string{"ticket_id text", "idx int", "key text", "name text", "mode text",
		"handlers text", "visible text", "reject_to text", "added_by text"},
		`INSERT INTO nodes (ticket_id, idx, key, name, mode, handlers, visible, reject_to, added_by)
		SELECT e.ticket_id, e.idx, e.key, e.name, e.mode, ARRAY(SELECT jsonb_array_elements_text(e.handlers::jsonb)),
			`+fromJSONArray("e.visible")+`, e.reject_to, e.added_by
		FROM e ORDER BY e.n`)
	insertFreshCC = newSetStatement([]string{"principal text", "ticket_id text", "added_at timestamptz", "added_by text"},
		`INSERT INTO cc (principal, ticket_id, added_at, added_by)
		SELECT e.principal, e.ticket_id, e.added_at, e.added_by FROM e ORDER BY e.n`)
	insertFreshTasks = newSetStatement([]string{"ticket_id text", "task_id text", "activation int", "ordinal int",
		"node text", "process_key text", "assignee text", "status text", "visible text", "created_at timestamptz",
		"pending_since timestamptz", "due_at timestamptz", "decided_at timestamptz", "decided_by text", "on_behalf_of text"},
		`INSERT INTO tasks (ticket_id, task_id, activation, ordinal, node, process_key, assignee, status, visible,
			created_at, pending_since, due_at, decided_at, decided_by, on_behalf_of)
		SELECT e.ticket_id, e.task_id, e.activation, e.ordinal, e.node, e.process_key, e.assignee, e.status,
			`+fromJSONArray("e.visible")+`, e.created_at, e.pending_since, e.due_at, e.decided_at,
			e.decided_by, e.on_behalf_of
		FROM e ORDER BY e.n`)
	insertFreshActivations = newSetStatement([]string{"ticket_id text", "activation int", "node text", "process_key text",
		"activated_at timestamptz", "due_at timestamptz", "ended_at timestamptz", "outcome text"},
		`INSERT INTO activations (ticket_id, activation, node, process_key, activated_at, due_at, ended_at, outcome)
		SELECT e.ticket_id, e.activation, e.node, e.process_key, e.activated_at, e.due_at, e.ended_at, e.outcome
		FROM e ORDER BY e.n`)
)
