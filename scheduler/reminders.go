package scheduler

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// RemindersName is the name of the reminders projection.
const RemindersName = "reminders"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Reminders is the projection of the reminders still to send. It implements
// projections.Projection and projections.Queuer, and is safe for concurrent use.
type Reminders struct {
	pool *pgxpool.Pool
}

var (
	_ projections.Projection = (*Reminders)(nil)
	_ projections.Queuer     = (*Reminders)(nil)
)

// NewReminders returns the projection, querying through pool.
func NewReminders(pool *pgxpool.Pool) *Reminders { return &Reminders{pool: pool} }

// Name implements projections.Projection.
func (*Reminders) Name() string { return RemindersName }

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
func (*Reminders) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
	if !ok {
		return nil
	}
	e, err := ticket.Decode(ev.Type, ev.Data)
	if err != nil {
		return fmt.Errorf("scheduler: %s version %d: %w", ev.Stream, ev.Version, err)
	}
	const clear = `DELETE FROM reminders WHERE ticket_id = $1`
	const add = `INSERT INTO reminders (ticket_id, activation, kind, node, fire_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (ticket_id, activation, kind) DO UPDATE SET node = EXCLUDED.node, fire_at = EXCLUDED.fire_at`
	switch e := e.(type) {
	case *ticket.NodeActivated:
		b.Queue(clear, id)
		if !e.DueAt.IsZero() {
			if !e.RemindAt.IsZero() {
				b.Queue(add, id, e.Activation, ticket.DueSoon, e.Node, e.RemindAt)
			}
			b.Queue(add, id, e.Activation, ticket.Overdue, e.Node, e.DueAt)
		}
	case *ticket.Reminded:
		b.Queue(`DELETE FROM reminders WHERE ticket_id = $1 AND activation = $2 AND kind = $3`, id, e.Activation, e.Kind)
	case *ticket.NodeCompleted, *ticket.Returned, *ticket.Withdrawn, *ticket.Approved, *ticket.Rejected:
		b.Queue(clear, id)
	case *ticket.SignerAdded:
		if e.Where == ticket.Before {
			b.Queue(clear, id)
		}
	}
	return nil
}

// Due is a reminder whose time has come.
type Due struct {
	TicketID   string
	Activation int
	Kind       string
	Node       string
	FireAt     time.Time
}

// DueAt returns up to limit reminders whose time is at or before now, oldest first.
func (r *Reminders) DueAt(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	rows, err := r.pool.Query(ctx, `SELECT ticket_id, activation, kind, node, fire_at FROM `+
		pgx.Identifier{projections.Schema(RemindersName), "reminders"}.Sanitize()+
		` WHERE fire_at <= $1 ORDER BY fire_at, ticket_id, activation, kind LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("scheduler: due reminders: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Due, error) {
		var d Due
		err := row.Scan(&d.TicketID, &d.Activation, &d.Kind, &d.Node, &d.FireAt)
		return d, err
	})
}
