package scheduler

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// RemindersName is the name of the reminders projection.
const RemindersName = "reminders"

// RemindersWriteInterval spaces the live batches of the reminders projection (see
// projections.Spaced). No command waits for it, and a reminder falls due minutes after
// its node starts: under load, a quarter of a second gathers hundreds of events into one
// transaction, where the commands would otherwise cause one every few.
const RemindersWriteInterval = 250 * time.Millisecond

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Reminders is the projection of the reminders still to send. It implements
// projections.Projection and projections.SetQueuer, and is safe for concurrent use.
type Reminders struct {
	pool *pgxpool.Pool
}

var (
	_ projections.Projection = (*Reminders)(nil)
	_ projections.SetQueuer  = (*Reminders)(nil)
	_ projections.Spaced     = (*Reminders)(nil)
)

// NewReminders returns the projection, querying through pool.
func NewReminders(pool *pgxpool.Pool) *Reminders { return &Reminders{pool: pool} }

// Name implements projections.Projection.
func (*Reminders) Name() string { return RemindersName }

// WriteInterval implements projections.Spaced: RemindersWriteInterval.
func (*Reminders) WriteInterval() time.Duration { return RemindersWriteInterval }

// Filter implements projections.Projection: the ticket streams.
func (*Reminders) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}}
}

// Migrations implements projections.Projection.
func (*Reminders) Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return migrationFiles
	}
	return sub
}

// Apply implements projections.Projection.
func (r *Reminders) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	var b pgx.Batch
	if err := r.Queue(&b, ev); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &b).Close()
}

// Queue implements projections.Queuer.
func (r *Reminders) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	return r.QueueSet(b, []eventstore.RecordedEvent{ev}, false)
}

// QueueSet implements projections.SetQueuer. It folds the batch's events per ticket in
// memory into the rows that end up deleted and written, then queues at most three
// statements: the tickets whose reminders were all cleared, the single reminders
// recorded as sent, and the reminders to write.
func (*Reminders) QueueSet(b *pgx.Batch, events []eventstore.RecordedEvent, _ bool) error {
	var (
		order   []string
		tickets = map[string]*ticketReminders{}
	)
	of := func(id string) *ticketReminders {
		t, ok := tickets[id]
		if !ok {
			t = &ticketReminders{rows: map[reminderKey]*Due{}}
			tickets[id] = t
			order = append(order, id)
		}
		return t
	}
	for _, ev := range events {
		id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
		if !ok || !remindersNeed[ev.Type] {
			continue
		}
		if ev.Type == ticket.TypeSubmitted {
			// The whole ticket's reminders, activation 0, outlive its nodes' until the end.
			// Only the two times are read of the submission, the largest event there is.
			var sla struct {
				DueAt    time.Time `json:"due_at"`
				RemindAt time.Time `json:"remind_at"`
			}
			if err := gojson.Unmarshal(ev.Data, &sla); err != nil {
				return fmt.Errorf("scheduler: %s version %d: %w", ev.Stream, ev.Version, err)
			}
			// A submission opens its stream: it has no reminders to clear.
			if !sla.DueAt.IsZero() {
				t := of(id)
				if !sla.RemindAt.IsZero() {
					t.rows[reminderKey{0, ticket.DueSoon}] = &Due{TicketID: id, Kind: ticket.DueSoon, FireAt: sla.RemindAt}
				}
				t.rows[reminderKey{0, ticket.Overdue}] = &Due{TicketID: id, Kind: ticket.Overdue, FireAt: sla.DueAt}
			}
			continue
		}
		e, err := ticket.Decode(ev.Type, ev.Data)
		if err != nil {
			return fmt.Errorf("scheduler: %s version %d: %w", ev.Stream, ev.Version, err)
		}
		switch e := e.(type) {
		case *ticket.NodeActivated:
			t := of(id)
			t.clear()
			if !e.DueAt.IsZero() {
				if !e.RemindAt.IsZero() {
					t.rows[reminderKey{e.Activation, ticket.DueSoon}] = &Due{TicketID: id, Activation: e.Activation, Kind: ticket.DueSoon, Node: e.Node, FireAt: e.RemindAt}
				}
				t.rows[reminderKey{e.Activation, ticket.Overdue}] = &Due{TicketID: id, Activation: e.Activation, Kind: ticket.Overdue, Node: e.Node, FireAt: e.DueAt}
			}
		case *ticket.Reminded:
			of(id).rows[reminderKey{e.Activation, e.Kind}] = nil
			if e.Kind == ticket.Overdue {
				// A due-soon reminder not sent by now is not sent (see ticket.Remind).
				of(id).rows[reminderKey{e.Activation, ticket.DueSoon}] = nil
			}
		case *ticket.NodeCompleted, *ticket.Returned:
			of(id).clear()
		case *ticket.Withdrawn, *ticket.Approved, *ticket.Rejected:
			of(id).clearAll()
		case *ticket.SignerAdded:
			if e.Where == ticket.Before {
				of(id).clear()
			}
		}
	}
	var (
		cleared          []string
		delIDs, delKinds []string
		delActs          []int
		add              []*Due
	)
	for _, id := range order {
		t := tickets[id]
		if t.cleared {
			cleared = append(cleared, id)
		}
		keys := make([]reminderKey, 0, len(t.rows))
		for k := range t.rows {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b reminderKey) int {
			if a.activation != b.activation {
				return a.activation - b.activation
			}
			return strings.Compare(a.kind, b.kind)
		})
		for _, k := range keys {
			switch d := t.rows[k]; {
			case d != nil:
				add = append(add, d)
			case !t.cleared || k.activation == 0:
				delIDs, delActs, delKinds = append(delIDs, id), append(delActs, k.activation), append(delKinds, k.kind)
			}
		}
	}
	if len(cleared) > 0 {
		b.Queue(`DELETE FROM reminders WHERE ticket_id = ANY($1::text[]) AND activation > 0`, cleared)
	}
	if len(delIDs) > 0 {
		b.Queue(`DELETE FROM reminders r USING unnest($1::text[], $2::int[], $3::text[]) AS d(ticket_id, activation, kind)
			WHERE r.ticket_id = d.ticket_id AND r.activation = d.activation AND r.kind = d.kind`, delIDs, delActs, delKinds)
	}
	if len(add) > 0 {
		ids, acts, kinds, nodes, at := make([]string, len(add)), make([]int, len(add)), make([]string, len(add)), make([]string, len(add)), make([]time.Time, len(add))
		for i, d := range add {
			ids[i], acts[i], kinds[i], nodes[i], at[i] = d.TicketID, d.Activation, d.Kind, d.Node, d.FireAt
		}
		b.Queue(`INSERT INTO reminders (ticket_id, activation, kind, node, fire_at)
			SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::timestamptz[])
			ON CONFLICT (ticket_id, activation, kind) DO UPDATE SET node = EXCLUDED.node, fire_at = EXCLUDED.fire_at`,
			ids, acts, kinds, nodes, at)
	}
	return nil
}

// remindersNeed holds the types of the ticket events that change reminders; the others
// are not decoded.
var remindersNeed = map[string]bool{
	ticket.TypeSubmitted: true, ticket.TypeNodeActivated: true, ticket.TypeReminded: true, ticket.TypeNodeCompleted: true,
	ticket.TypeReturned: true, ticket.TypeWithdrawn: true, ticket.TypeApproved: true,
	ticket.TypeRejected: true, ticket.TypeSignerAdded: true,
}

type reminderKey struct {
	activation int
	kind       string
}

// ticketReminders is the effect of a batch's events on one ticket's reminders: whether
// its nodes' reminders were all cleared, then the rows written (a Due) or deleted (nil)
// since. The whole ticket's reminders (activation 0) are never cleared with its nodes'.
type ticketReminders struct {
	cleared bool
	rows    map[reminderKey]*Due
}

// clear drops the reminders of the ticket's nodes.
func (t *ticketReminders) clear() {
	t.cleared = true
	for k := range t.rows {
		if k.activation > 0 {
			delete(t.rows, k)
		}
	}
}

// clearAll drops every reminder of the ticket: its nodes' and its own.
func (t *ticketReminders) clearAll() {
	t.clear()
	t.rows[reminderKey{0, ticket.DueSoon}] = nil
	t.rows[reminderKey{0, ticket.Overdue}] = nil
}

// Due is a reminder whose time has come.
type Due struct {
	TicketID   string
	Activation int
	Kind       string
	Node       string
	FireAt     time.Time
}

// DueAt returns up to limit reminders whose time is at or before now, oldest first. A
// due-soon reminder whose overdue one is due too is left out: sending it would record
// nothing (the decision sends the overdue one alone), so it would stay at the head of the
// queue, and a backlog of such rows, after the scheduler was down past many due times,
// would hold back every reminder behind it. Recording the overdue one clears both.
func (r *Reminders) DueAt(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	table := pgx.Identifier{projections.Schema(RemindersName), "reminders"}.Sanitize()
	rows, err := r.pool.Query(ctx, `SELECT r.ticket_id, r.activation, r.kind, r.node, r.fire_at FROM `+table+` r
		WHERE r.fire_at <= $1 AND NOT (r.kind = $3 AND EXISTS (
			SELECT 1 FROM `+table+` o WHERE o.ticket_id = r.ticket_id AND o.activation = r.activation AND o.kind = $4 AND o.fire_at <= $1))
		ORDER BY r.fire_at, r.ticket_id, r.activation, r.kind LIMIT $2`, now, limit, ticket.DueSoon, ticket.Overdue)
	if err != nil {
		return nil, fmt.Errorf("scheduler: due reminders: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Due, error) {
		var d Due
		err := row.Scan(&d.TicketID, &d.Activation, &d.Kind, &d.Node, &d.FireAt)
		return d, err
	})
}
