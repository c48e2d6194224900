package projections

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/eventstore"
)

// DelegationsName is the name of the delegations projection.
const DelegationsName = "delegations"

// Delegations projects delegation streams into a table of grants (协同), which the
// workbench and the tracking view join to find who may act for whom. Safe for concurrent use.
type Delegations struct {
	pool *pgxpool.Pool
}

// NewDelegations returns the delegations projection, querying through pool (which may be
// nil for a projection that is only applied).
func NewDelegations(pool *pgxpool.Pool) *Delegations { return &Delegations{pool: pool} }

// Name implements Projection.
func (*Delegations) Name() string { return DelegationsName }

// Filter implements Projection: the delegation streams.
func (*Delegations) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefixes: []string{delegation.Stream("")}}
}

// Migrations implements Projection.
func (*Delegations) Migrations() fs.FS { return embedded("delegations") }

// Apply implements Projection.
func (d *Delegations) Apply(ctx context.Context, tx pgx.Tx, ev eventstore.RecordedEvent) error {
	return applyQueued(ctx, tx, d, ev)
}

// Queue implements Queuer.
func (*Delegations) Queue(b *pgx.Batch, ev eventstore.RecordedEvent) error {
	principal, ok := strings.CutPrefix(ev.Stream, delegation.Stream(""))
	if !ok {
		return nil
	}
	e, err := delegation.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case *delegation.Granted:
		g := e.Grant
		b.Queue(`INSERT INTO grants (principal, id, delegate, valid_from, valid_until, processes, reason, granted_by,
				granted_at, revoked_at, revoked_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (principal, id) DO UPDATE SET delegate = excluded.delegate, valid_from = excluded.valid_from,
				valid_until = excluded.valid_until, processes = excluded.processes, reason = excluded.reason,
				granted_by = excluded.granted_by, granted_at = excluded.granted_at, revoked_at = excluded.revoked_at,
				revoked_by = excluded.revoked_by`,
			principal, g.ID, g.Delegate, g.From, nullTime(g.Until), nonNil(g.Processes), g.Reason, g.GrantedBy,
			nullTime(g.GrantedAt), nullTime(g.RevokedAt), nullString(g.RevokedBy))
	case *delegation.Revoked:
		b.Queue(`UPDATE grants SET revoked_at = $3, revoked_by = $4 WHERE principal = $1 AND id = $2`,
			principal, e.GrantID, e.RevokedAt, e.RevokedBy)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// activeGrant is the SQL condition that grant alias g is active at the instant at (an SQL
// expression), for the process key expression process unless it is empty: as
// delegation.Grant.ActiveAt decides.
func activeGrant(g, at, process string) string {
	s := g + ".valid_from <= " + at + " AND (" + g + ".valid_until IS NULL OR " + at + " < " + g + ".valid_until)" +
		" AND (" + g + ".revoked_at IS NULL OR " + at + " < " + g + ".revoked_at)"
	if process != "" {
		s += " AND (cardinality(" + g + ".processes) = 0 OR " + process + " = ANY (" + g + ".processes))"
	}
	return s
}

const grantColumns = `g.principal, g.id, g.delegate, g.valid_from, g.valid_until, g.processes, g.reason, g.granted_by,
	g.granted_at, g.revoked_at, coalesce(g.revoked_by, '')`

func scanGrants(rows pgx.Rows) ([]delegation.Grant, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (delegation.Grant, error) {
		var (
			g                           delegation.Grant
			until, grantedAt, revokedAt *time.Time
		)
		err := r.Scan(&g.Principal, &g.ID, &g.Delegate, &g.From, &until, &g.Processes, &g.Reason, &g.GrantedBy,
			&grantedAt, &revokedAt, &g.RevokedBy)
		g.Until, g.GrantedAt, g.RevokedAt = timeOf(until), timeOf(grantedAt), timeOf(revokedAt)
		if len(g.Processes) == 0 {
			g.Processes = nil
		}
		return g, err
	})
}

// Of returns the grants principal made, revoked ones included, in grant order.
func (d *Delegations) Of(ctx context.Context, principal string) ([]delegation.Grant, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+grantColumns+` FROM rm_delegations.grants g
		WHERE g.principal = $1 ORDER BY g.granted_at, g.id`, principal)
	if err != nil {
		return nil, fmt.Errorf("projections: grants of %s: %w", principal, err)
	}
	out, err := scanGrants(rows)
	if err != nil {
		return nil, fmt.Errorf("projections: grants of %s: %w", principal, err)
	}
	return out, nil
}

// ActingFor returns the grants that let delegate act for someone at instant at (for any
// process when process is empty, else for that process), ordered by principal.
func (d *Delegations) ActingFor(ctx context.Context, delegate, process string, at time.Time) ([]delegation.Grant, error) {
	cond := activeGrant("g", "$2", "")
	args := []any{delegate, at}
	if process != "" {
		cond = activeGrant("g", "$2", "$3::text")
		args = append(args, process)
	}
	rows, err := d.pool.Query(ctx, `SELECT `+grantColumns+` FROM rm_delegations.grants g
		WHERE g.delegate = $1 AND `+cond+` ORDER BY g.principal, g.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("projections: grants to %s: %w", delegate, err)
	}
	out, err := scanGrants(rows)
	if err != nil {
		return nil, fmt.Errorf("projections: grants to %s: %w", delegate, err)
	}
	return out, nil
}
