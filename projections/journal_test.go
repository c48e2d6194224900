package projections_test

import (
	"context"
	"io/fs"
	"strings"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// journalName is the name of the journal projection.
const journalName = "journal"

// journal is the runner's second projection of ticket events in these tests, beside
// the tickets projection: one row per event, inserted without ON CONFLICT, so that an
// event applied twice fails its batch instead of passing unseen. It writes through Apply,
// Queue and QueueSet, as the package's projections may.
type journal struct{}

var _ projections.SetQueuer = journal{}

func (journal) Name() string { return journalName }

func (journal) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}}
}

func (journal) Migrations() fs.FS {
	return fstest.MapFS{"001_entries.sql": {Data: []byte(`CREATE TABLE entries (
		ticket_id text NOT NULL, version bigint NOT NULL, type text NOT NULL, position text NOT NULL,
		PRIMARY KEY (ticket_id, version))`)}}
}

const journalInsertSQL = `INSERT INTO entries (ticket_id, version, type, position) VALUES ($1, $2, $3, $4)`

func (j journal) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	id, ok := strings.CutPrefix(ev.Stream, ticket.Stream(""))
	if !ok {
		return nil
	}
	_, err := tx.Exec(ctx, journalInsertSQL, id, int64(ev.Version), ev.Type, ev.Position.String())
	return err
}

func (journal) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	if id, ok := strings.CutPrefix(ev.Stream, ticket.Stream("")); ok {
		b.Queue(journalInsertSQL, id, int64(ev.Version), ev.Type, ev.Position.String())
	}
	return nil
}

func (journal) QueueSet(b *pgx.Batch, events []eventstore.RecordedEvent, _ bool) error {
	var ids, types, positions []string
	var versions []int64
	for _, ev := range events {
		if id, ok := strings.CutPrefix(ev.Stream, ticket.Stream("")); ok {
			ids, types, positions = append(ids, id), append(types, ev.Type), append(positions, ev.Position.String())
			versions = append(versions, int64(ev.Version))
		}
	}
	if len(ids) > 0 {
		b.Queue(`INSERT INTO entries (ticket_id, version, type, position)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])`, ids, versions, types, positions)
	}
	return nil
}

// journaled returns how many events of the ticket with id the journal holds.
func (e *env) journaled(id string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM rm_journal.entries WHERE ticket_id = $1`, id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
