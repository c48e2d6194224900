package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// TimelineName is the name of the timeline projection.
const TimelineName = "timeline"

// Timeline projects every event of every ticket into an audit timeline: who did what, for
// whom, at which node, with which comment, when, and where in the log. It never stores a
// field value, so it can be shown to anyone who may follow the ticket; the full record,
// verified, comes from the log itself (package projections/audit). Safe for concurrent use.
type Timeline struct {
	pool *pgxpool.Pool
}

// NewTimeline returns the timeline projection, querying through pool (which may be nil
// for a projection that is only applied).
func NewTimeline(pool *pgxpool.Pool) *Timeline { return &Timeline{pool: pool} }

// Name implements Projection.
func (*Timeline) Name() string { return TimelineName }

// Filter implements Projection: the ticket streams.
func (*Timeline) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}}
}

// Migrations implements Projection.
func (*Timeline) Migrations() fs.FS { return embedded("timeline") }

// Apply implements Projection.
func (t *Timeline) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	return applyQueued(ctx, tx, t, ev)
}

// Entry is one event of a ticket's timeline.
type Entry struct {
	TicketID string
	Version  uint64
	Position eventstore.Position
	Type     string
	// Actor issued the command; OnBehalfOf is whom they acted for as a delegate.
	Actor      string
	OnBehalfOf string
	// Source is the system the command came from ("user", "scheduler", a business system).
	Source  string
	Node    string
	Comment string
	// Detail holds what else the event says (outcome, target node, users, field names
	// changed...), never a field value.
	Detail map[string]any
	// At is the domain time of the event; RecordedAt when the store recorded it.
	At         time.Time
	RecordedAt time.Time
}

// Queue implements Queuer: the statement of one event, that QueueSet queues for a batch
// of that event alone.
func (t *Timeline) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	return t.QueueSet(b, []eventstore.RecordedEvent{ev}, false)
}

// QueueSet implements SetQueuer: one statement inserts the entries of the whole batch.
// In a rebuild's replay, into a fresh table, it inserts them without looking for entries
// already there: none can be, a stream having one event of each version (were there one,
// the statement would fail and the runner would go back to Queue). Metadata that is
// missing or not JSON leaves actor and source to what the event itself says.
func (*Timeline) QueueSet(b *pgx.Batch, events []eventstore.RecordedEvent, replay bool) error {
	rows := newSetRows(insertEntries)
	if replay {
		rows = newSetRows(insertFreshEntries)
	}
	for i := range events {
		ev := &events[i]
		id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
		if !ok {
			continue
		}
		e, err := ticket.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		var md envelope.Metadata
		if len(ev.Metadata) > 0 {
			md, _ = envelope.Decode(ev.Metadata)
		}
		en := describe(e)
		if md.Actor != "" {
			en.Actor = md.Actor
		}
		if md.OnBehalfOf != "" {
			en.OnBehalfOf = md.OnBehalfOf
		}
		detail, err := json.Marshal(en.Detail)
		if err != nil {
			return fmt.Errorf("projections: encode timeline detail: %w", err)
		}
		rows.add(id, int64(ev.Version), ev.Position.String(), ev.Type, en.Actor, en.OnBehalfOf, md.Source, en.Node,
			en.Comment, string(detail), eventTime(e, ev.Created), ev.Created)
	}
	if rows.len() > 0 {
		rows.queue(b)
	}
	return nil
}

var entryColumns = []string{"id text", "version bigint", "pos text", "type text", "actor text", "on_behalf_of text",
	"source text", "node text", "comment text", "detail text", "at timestamptz", "recorded_at timestamptz"}

const insertEntriesSQL = `INSERT INTO entries (ticket_id, version, position, type, actor, on_behalf_of, source, node,
		comment, detail, at, recorded_at)
	SELECT e.id, e.version, e.pos, e.type, e.actor, e.on_behalf_of, e.source, e.node, e.comment, e.detail::jsonb,
		e.at, e.recorded_at
	FROM e ORDER BY e.n`

var (
	insertEntries      = newSetStatement(entryColumns, insertEntriesSQL+` ON CONFLICT (ticket_id, version) DO NOTHING`)
	insertFreshEntries = newSetStatement(entryColumns, insertEntriesSQL)
)

// describe reads the timeline's view of e: the actor the event names (metadata, when
// present, overrides it), node, comment and detail.
func describe(e ticket.Event) Entry {
	var en Entry
	d := map[string]any{}
	decision := func(x ticket.Decision) {
		en.Actor, en.Node, en.Comment = x.By, x.Node, x.Comment
		if x.By != x.Assignee {
			en.OnBehalfOf = x.Assignee
		}
		d["task_id"], d["assignee"] = x.TaskID, x.Assignee
	}
	switch e := e.(type) {
	case *ticket.Submitted:
		en.Actor = e.Submitter
		keys := make([]string, len(e.Route))
		for i, n := range e.Route {
			keys[i] = n.Key
		}
		d["process_key"], d["process_version"], d["route"] = e.ProcessKey, e.ProcessVersion, keys
		if e.BusinessKey != "" {
			d["business_key"] = e.BusinessKey
		}
		if len(e.CC) > 0 {
			d["cc"] = e.CC
		}
	case *ticket.NodeActivated:
		en.Node = e.Node
		handlers := make([]string, len(e.Tasks))
		for i, t := range e.Tasks {
			handlers[i] = t.Assignee
		}
		d["activation"], d["handlers"] = e.Activation, handlers
		if !e.DueAt.IsZero() {
			d["due_at"] = e.DueAt
		}
	case *ticket.TaskApproval:
		decision(e.Decision)
		if len(e.Changes) > 0 {
			d["changed"] = slices.Sorted(maps.Keys(e.Changes))
		}
	case *ticket.TaskRejection:
		decision(e.Decision)
	case *ticket.NodeCompleted:
		en.Node = e.Node
		d["outcome"] = e.Outcome
	case *ticket.Returned:
		decision(e.Decision)
		d["to"] = e.To
	case *ticket.Resubmitted:
		en.Actor, en.Comment = e.By, e.Comment
		if len(e.Changed) > 0 {
			d["changed"] = e.Changed
		}
	case *ticket.Withdrawn:
		en.Actor, en.Comment = e.By, e.Reason
	case *ticket.TaskTransfer:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		if e.By != e.Assignee {
			en.OnBehalfOf = e.Assignee
		}
		d["task_id"], d["new_task"], d["assignee"], d["to"] = e.TaskID, e.NewTask, e.Assignee, e.To
	case *ticket.SignerAdded:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		d["signer"], d["where"], d["new_node"] = e.Signer, e.Where, e.New.Key
	case *ticket.Commented:
		en.Actor, en.Comment = e.By, e.Text
	case *ticket.CCAdded:
		en.Actor = e.By
		d["users"] = e.Users
	case *ticket.Urged:
		en.Actor, en.Node, en.Comment = e.By, e.Node, e.Comment
		d["urged"] = e.Urged
	case *ticket.Reminded:
		en.Node = e.Node
		d["kind"], d["activation"], d["handlers"], d["due_at"] = e.Kind, e.Activation, e.Handlers, e.DueAt
	case *ticket.Rejected:
		en.Actor, en.Node = e.By, e.Node
	case *ticket.ExecutionReported:
		en.Actor, en.Comment = e.ReportedBy, e.Detail
		d["status"] = e.Status
	}
	en.Detail = d
	return en
}

// Of returns every event of the ticket with id, in stream order. Errors: a
// domain.NotFound *domain.Error when the timeline holds no event of it; database errors.
func (t *Timeline) Of(ctx context.Context, id string) ([]Entry, error) {
	rows, err := t.pool.Query(ctx, `SELECT ticket_id, version, position, type, actor, on_behalf_of, source, node,
			comment, detail, at, recorded_at
		FROM rm_timeline.entries WHERE ticket_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("projections: timeline of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var (
			en      Entry
			version int64
			pos     string
		)
		if err := r.Scan(&en.TicketID, &version, &pos, &en.Type, &en.Actor, &en.OnBehalfOf, &en.Source, &en.Node,
			&en.Comment, &en.Detail, &en.At, &en.RecordedAt); err != nil {
			return en, err
		}
		en.Version = uint64(version)
		var err error
		en.Position, err = eventstore.ParsePosition(pos)
		return en, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: timeline of %s: %w", id, err)
	}
	if len(out) == 0 {
		return nil, notFound(id)
	}
	return out, nil
}
