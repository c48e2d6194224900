package projections

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Projection folds events of the log into read-model tables. Implementations must be
// safe for concurrent use: a rebuild applies events into fresh tables while the live
// projection keeps applying into its own, each in its own transaction.
//
// Apply must write only through tx and only to unqualified table names: the runner sets
// the transaction's search_path to the schema being written (Schema(Name()) when live,
// another one during a rebuild). Apply must be deterministic — the same event gives the
// same rows whenever it is applied, so that a rebuild equals the live tables — and must not
// read the clock. An error from Apply rolls the batch back and stops the projection; it
// is not retried.
type Projection interface {
	// Name identifies the projection: its checkpoint row and its schema. It matches
	// [a-z][a-z0-9_]{0,39} and never changes.
	Name() string
	// Filter selects the events the projection needs.
	Filter() eventstore.Filter
	// Migrations holds the projection's schema migrations, tern SQL files (001_x.sql,
	// 002_y.sql, ...) written with unqualified names; they run with search_path set to the
	// projection's schema, and record their version in that schema's schema_version table.
	Migrations() fs.FS
	// Apply writes the effect of one event.
	Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error
}

// Queuer is implemented by projections whose effect of an event is a fixed list of SQL
// statements that need no answer from the database to be chosen. The runner queues the
// statements of a whole batch of events into one pgx.Batch, one round trip instead of one
// per statement, and uses Apply only for projections that are not Queuers. Queue must
// append exactly the statements Apply would run, and return an error (the projection
// stops) when it cannot decode the event.
type Queuer interface {
	Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error
}

// SetQueuer is implemented by Queuers that also queue the statements of a whole batch of
// events at once, as statements that each apply many events: far fewer statements, and
// far less work for the database, than one per event. The runner uses QueueSet for every
// batch of more than one event; Queue must queue what QueueSet queues for a batch of one,
// and QueueSet must have the effect of Queue for each event in turn. replay is true for
// the batches of a rebuild's replay, which write into fresh tables; a projection may then
// take a faster way to the same rows. When QueueSet returns an error, or a statement it
// queued fails, the runner goes back to Queue, event by event, to find the event at
// fault.
type SetQueuer interface {
	Queuer
	QueueSet(b *pgx.Batch, events []eventstore.RecordedEvent, replay bool) error
}

// StreamLocal is implemented by projections whose Apply, for an event, reads and writes
// only rows of that event's stream, so that events of different streams may be applied
// in any order relative to each other. Rebuild shares the events of such a projection out
// by stream among Config.RebuildWorkers concurrent writers when StreamLocal returns true.
type StreamLocal interface {
	StreamLocal() bool
}

// Spaced is implemented by projections that no command's answer waits for and whose
// readers accept a short delay, such as reminders that fall due minutes later. Once the
// projection has caught up, the runner starts its live batches at least WriteInterval
// apart: the events that arrive meanwhile gather into the next batch, up to
// Config.BatchSize, instead of each handful being written in a transaction of its own.
// An event that arrives after a quiet spell longer than the interval is written at
// once. Under load this divides the projection's transactions, and their fixed cost (the
// claim of the checkpoint, its update, the commit), by the number of batches the
// interval holds. A WriteInterval of zero or less writes every batch at once.
type Spaced interface {
	WriteInterval() time.Duration
}

// Schema returns the PostgreSQL schema holding the tables of the projection named name.
func Schema(name string) string { return "rm_" + name }

// rebuildSchema is the schema a rebuild writes before it is swapped in.
func rebuildSchema(name string) string { return Schema(name) + "_next" }

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("projections: projection name %q: want [a-z][a-z0-9_]{0,39}", name)
	}
	return nil
}

// applyQueued runs the statements q queues for ev in tx, in one round trip.
func applyQueued(ctx context.Context, tx pgx.Tx, q Queuer, ev eventstore.RecordedEvent) error {
	var b pgx.Batch
	if err := q.Queue(&b, ev); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &b).Close()
}
