package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PruneResult counts what Store.Prune deleted.
type PruneResult struct {
	// Deliveries ended (delivered or dead), with their attempts.
	Deliveries int64
	// Messages is the outcome messages no delivery refers to any more.
	Messages int64
}

// Prune deletes the webhook bookkeeping that ended before before: the deliveries
// delivered or dead-lettered before it, with their attempts, then the outcome messages
// relayed before it that no delivery refers to any more. Pending deliveries and their
// messages stay, however old. The event log keeps every outcome and its execution
// report; what goes is the record of the webhooks that carried them, which the API's
// delivery and outcome listings then no longer show. Quarantined outcomes stay. It
// deletes in statements of up to PruneBatch rows.
func (s *Store) Prune(ctx context.Context, before time.Time) (PruneResult, error) {
	var res PruneResult
	const deliveries = `DELETE FROM relay_deliveries WHERE id = ANY (ARRAY(
		SELECT id FROM relay_deliveries
		WHERE state IN ('delivered', 'dead')
			AND coalesce(CASE state WHEN 'delivered' THEN delivered_at ELSE dead_at END, updated_at) < $1
		LIMIT $2))`
	const messages = `DELETE FROM relay_messages WHERE event_id = ANY (ARRAY(
		SELECT m.event_id FROM relay_messages m
		WHERE m.relayed_at < $1 AND NOT EXISTS (SELECT FROM relay_deliveries d WHERE d.event_id = m.event_id)
		LIMIT $2))`
	for _, step := range []struct {
		what  string
		sql   string
		count *int64
	}{{"deliveries", deliveries, &res.Deliveries}, {"messages", messages, &res.Messages}} {
		n, err := deleteInBatches(ctx, s.pool, step.sql, before)
		*step.count = n
		if err != nil {
			return res, fmt.Errorf("relay: prune %s: %w", step.what, err)
		}
	}
	return res, nil
}

// RunRetention prunes, every interval until ctx ends, the webhook bookkeeping that ended
// more than retention ago (Prune), then returns nil. A failure is logged and tried again
// at the next interval.
func (s *Store) RunRetention(ctx context.Context, retention, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		res, err := s.Prune(ctx, s.now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.cfg.Logger.Warn("relay: pruning old webhook records failed; trying again later", "error", err)
		case res.Deliveries+res.Messages > 0:
			s.cfg.Logger.Info("relay: old webhook records pruned", "deliveries", res.Deliveries, "messages", res.Messages,
				"retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// deleteInBatches runs sql, a DELETE of at most PruneBatch rows given as its last
// parameter after args, until a run deletes fewer, and returns the rows deleted in all.
func deleteInBatches(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (int64, error) {
	args = append(args, PruneBatch)
	var total int64
	for {
		tag, err := pool.Exec(ctx, sql, args...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < PruneBatch {
			return total, nil
		}
	}
}
