package projections

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// setStatement is an SQL statement that applies many events at once. Its parameters
// are arrays, one element per event, unnested into the rows of e (the declared columns
// and n, the row's ordinal); its parts are data-modifying statements over e, all but the
// last run as WITH queries of the last. The parts all see the tables as they were before
// the statement and none sees the others' changes, so the parts must neither read what
// another writes nor write the same rows, and the rows of e must touch distinct rows
// (for the tickets projection: one event per ticket).
type setStatement struct {
	sql  string
	cols int
}

// newSetStatement returns the statement over columns ("name type", in parameter order)
// running parts.
func newSetStatement(columns []string, parts ...string) *setStatement {
	params := make([]string, len(columns))
	names := make([]string, len(columns))
	for i, c := range columns {
		name, typ, ok := strings.Cut(c, " ")
		if !ok {
			panic("projections: set statement column " + c + " has no type")
		}
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, typ)
		names[i] = name
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "WITH e AS (SELECT * FROM unnest(%s) WITH ORDINALITY AS e(%s, n))",
		strings.Join(params, ", "), strings.Join(names, ", "))
	for i, p := range parts[:len(parts)-1] {
		fmt.Fprintf(&sb, ",\ns%d AS (%s)", i, p)
	}
	sb.WriteString("\n")
	sb.WriteString(parts[len(parts)-1])
	return &setStatement{sql: sb.String(), cols: len(columns)}
}

// setRows gathers the rows of one setStatement: the values of each column.
type setRows struct {
	st   *setStatement
	cols [][]any
}

func newSetRows(st *setStatement) *setRows {
	return &setRows{st: st, cols: make([][]any, st.cols)}
}

// add appends a row of one value per column, in order; a nil value is NULL.
func (r *setRows) add(vals ...any) {
	if len(vals) != len(r.cols) {
		panic(fmt.Sprintf("projections: %d values for a set statement of %d columns", len(vals), len(r.cols)))
	}
	for i, v := range vals {
		r.cols[i] = append(r.cols[i], v)
	}
}

func (r *setRows) len() int { return len(r.cols[0]) }

// queue queues the statement over the rows gathered in b.
func (r *setRows) queue(b *pgx.Batch) {
	args := make([]any, len(r.cols))
	for i, c := range r.cols {
		args[i] = c
	}
	b.Queue(r.st.sql, args...)
}
