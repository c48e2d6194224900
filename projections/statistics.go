package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The activations table of the tickets projection records each node activation and how
// it ended, for node SLA statistics; handling times come from the task rows.

// insertActivation records the activations of e.
const insertActivation = `INSERT INTO activations (ticket_id, activation, node, process_key, activated_at, due_at)
	SELECT k.id, e.activation, e.node, k.process_key, e.at, e.due FROM e JOIN tickets k ON k.id = e.id
	ON CONFLICT (ticket_id, activation) DO NOTHING`

// endActivations ends the open activation, if any, of the tickets of e with outcome (an
// SQL expression over e).
func endActivations(outcome string) string {
	return `UPDATE activations a SET ended_at = e.at, outcome = ` + outcome + `
		FROM e WHERE a.ticket_id = e.id AND a.ended_at IS NULL`
}

// Statistics answers handling-time and SLA questions from the tables of the tickets
// projection. Safe for concurrent use.
type Statistics struct {
	pool *pgxpool.Pool
}

// NewStatistics returns the statistics queries over pool.
func NewStatistics(pool *pgxpool.Pool) *Statistics { return &Statistics{pool: pool} }

// StatsQuery selects what statistics cover.
type StatsQuery struct {
	// Process keeps one process key; empty means every process.
	Process string
	// From and To bound, [From, To), when tasks were decided and nodes activated; zero
	// means unbounded.
	From, To time.Time
	// At is the instant at which an open activation or task past its due time counts as
	// an SLA miss; zero means now.
	At time.Time
}

// HandlingStats are the handling times of decided tasks (from the moment a task became
// its assignee's to decide until the decision: approval, rejection or return) and the
// SLA record of one node or approver.
type HandlingStats struct {
	// Key is the node key (ByNode) or the approver who decided (ByApprover).
	Key   string
	Count int64
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	// SLAHits and SLAMisses count, for ByNode, node activations with a due time that
	// ended by it and those that ended after it or are still open past it; for
	// ByApprover, decided tasks with a due time decided by it and after it.
	SLAHits   int64
	SLAMisses int64
}

const durationSQL = `extract(epoch FROM t.decided_at - t.pending_since)::float8`

// handlingSQL aggregates the decided tasks grouped by key.
const handlingSQL = `SELECT %[1]s AS key, count(*) AS n, avg(` + durationSQL + `) AS mean,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY ` + durationSQL + `) AS p50,
		percentile_cont(0.9) WITHIN GROUP (ORDER BY ` + durationSQL + `) AS p90,
		count(*) FILTER (WHERE t.decided_at <= t.due_at) AS hits,
		count(*) FILTER (WHERE t.decided_at > t.due_at) AS misses
	FROM rm_tickets.tasks t
	WHERE t.status IN ('approved', 'rejected', 'returned') AND t.pending_since IS NOT NULL AND %[2]s
	GROUP BY 1`

// ByNode returns the handling times of each node's tasks and the node's SLA record, by
// node key. Errors: database errors.
func (s *Statistics) ByNode(ctx context.Context, q StatsQuery) ([]HandlingStats, error) {
	var a args
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	atp := a.add(at)
	tasks := s.bounds(q, &a, "t.process_key", "t.decided_at")
	acts := s.bounds(q, &a, "a.process_key", "a.activated_at")
	sql := `WITH h AS (` + fmt.Sprintf(handlingSQL, "t.node", tasks) + `),
		s AS (SELECT a.node AS key,
				count(*) FILTER (WHERE a.ended_at <= a.due_at) AS hits,
				count(*) FILTER (WHERE a.ended_at > a.due_at OR (a.ended_at IS NULL AND a.due_at < ` + atp + `)) AS misses
			FROM rm_tickets.activations a WHERE a.due_at IS NOT NULL AND ` + acts + ` GROUP BY a.node)
		SELECT coalesce(h.key, s.key), coalesce(h.n, 0), coalesce(h.mean, 0), coalesce(h.p50, 0), coalesce(h.p90, 0),
			coalesce(s.hits, 0), coalesce(s.misses, 0)
		FROM h FULL JOIN s ON s.key = h.key ORDER BY 1`
	return s.query(ctx, "by node", sql, a)
}

// ByApprover returns the handling times and task SLA record of each principal who
// decided tasks (delegates under their own name), by principal. Errors: database errors.
func (s *Statistics) ByApprover(ctx context.Context, q StatsQuery) ([]HandlingStats, error) {
	var a args
	cond := s.bounds(q, &a, "t.process_key", "t.decided_at")
	sql := `SELECT key, n, coalesce(mean, 0), coalesce(p50, 0), coalesce(p90, 0), hits, misses FROM (` +
		fmt.Sprintf(handlingSQL, "t.decided_by", cond) + `) h ORDER BY key`
	return s.query(ctx, "by approver", sql, a)
}

// bounds returns the conditions of q on a process column and a time column.
func (s *Statistics) bounds(q StatsQuery, a *args, processCol, timeCol string) string {
	cond := "true"
	if q.Process != "" {
		cond += " AND " + processCol + " = " + a.add(q.Process)
	}
	if !q.From.IsZero() {
		cond += " AND " + timeCol + " >= " + a.add(q.From)
	}
	if !q.To.IsZero() {
		cond += " AND " + timeCol + " < " + a.add(q.To)
	}
	return cond
}

func (s *Statistics) query(ctx context.Context, what, sql string, a args) ([]HandlingStats, error) {
	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return nil, fmt.Errorf("projections: statistics %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HandlingStats, error) {
		var (
			h             HandlingStats
			mean, p50, p9 float64
		)
		err := r.Scan(&h.Key, &h.Count, &mean, &p50, &p9, &h.SLAHits, &h.SLAMisses)
		h.Mean, h.P50, h.P90 = seconds(mean), seconds(p50), seconds(p9)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: statistics %s: %w", what, err)
	}
	return out, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
