package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A rebuild replays the log into tables without their secondary indexes and builds those
// once the tables are full: one sort per index instead of an insertion per row, and fewer
// row versions, since updates that change no remaining index column can stay on their
// page. The indexes are those the projection's migrations created in the fresh schema,
// read back from the catalog, so nothing restates them. Deferred are the indexes of
// tables that have a primary key, neither unique nor backing a constraint: the replay
// finds rows by primary key, or, in a table without one, through the indexes it keeps.

// deferredIndex is a secondary index dropped for the replay.
type deferredIndex struct {
	Table string
	Name  string
	// Def is the statement that creates it again (pg_get_indexdef).
	Def string
}

// deferIndexes drops the deferred indexes of schema and returns them, in the order to
// build them.
func deferIndexes(ctx context.Context, db *pgxpool.Pool, schema string) ([]deferredIndex, error) {
	rows, err := db.Query(ctx, `SELECT t.relname, c.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = $1 AND NOT i.indisunique AND NOT i.indisprimary
			AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
			AND EXISTS (SELECT 1 FROM pg_index p WHERE p.indrelid = i.indrelid AND p.indisprimary)
		ORDER BY t.relname, c.relname`, schema)
	if err != nil {
		return nil, err
	}
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[deferredIndex])
	if err != nil {
		return nil, err
	}
	for _, x := range idx {
		if _, err := db.Exec(ctx, `DROP INDEX `+pgx.Identifier{schema, x.Name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", x.Name, err)
		}
	}
	return idx, nil
}
