package projections

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Phase is the stage a rebuild is in.
type Phase string

// The phases of a rebuild, in order.
const (
	// Replaying: the log is applied from its start into fresh tables.
	Replaying Phase = "replaying"
	// Indexing: the fresh tables caught up; they are vacuumed, their secondary indexes
	// built and their statistics gathered, one step after another (Progress.Step).
	Indexing Phase = "indexing"
	// Swapping: the fresh tables caught up; the events the live projection applied
	// meanwhile are applied too and the tables swapped in.
	Swapping Phase = "swapping"
	// Finished: the fresh tables serve.
	Finished Phase = "finished"
)

// Progress reports how far a rebuild is.
type Progress struct {
	Projection string
	Phase      Phase
	// Applied is the number of events applied into the fresh tables so far; Position
	// is how far into the log they reflect.
	Applied  int64
	Position eventstore.Position
	// Done and Total count the log events scanned so far and to scan up to the head of
	// the log seen when the rebuild started, as the Runner's Counter counts them; Total
	// is -1 (and Done equals Applied) when the Counter cannot count the whole log.
	Done  int64
	Total int64
	// Rate is the events scanned (or applied, when Total is unknown) per second since the
	// start; Remaining the time left at that rate, zero when unknown.
	Rate      float64
	Remaining time.Duration
	Elapsed   time.Duration
	// Step is what the Indexing phase is doing, such as "index tasks_pending_idx (8 of
	// 21)"; empty in the other phases.
	Step string
}

// Rebuild rebuilds the projection named name from the start of the log into fresh tables
// (the schema Schema(name)+"_next", dropped first if an earlier rebuild left it), while the
// live tables keep serving queries and keep following the log. The fresh tables are
// filled without their secondary indexes (see deferred.go), in batches of
// Config.BatchSize events per writer, written as SetQueuer allows; once they have caught
// up, they are vacuumed, indexed and analysed; then one transaction locks the checkpoint
// row (holding back the live projection's next batch), applies any events the live
// projection applied meanwhile, drops the live schema, renames the fresh one into its
// place and moves the checkpoint; queries see the old tables or the new ones, never a
// mix. A projection stopped on a failing event is restarted after the swap when Run runs.
//
// progress, when not nil, is called from Rebuild's goroutine at the start, at most every
// Config.ProgressInterval while replaying, at each step of indexing, when swapping and
// when finished. Rebuild returns ErrUnknownProjection, ErrRunning when the projection is
// already being rebuilt by this Runner, an *ApplyError when an event cannot be applied,
// or the failure of the store or the database; on error the live tables are left as they
// were. It is safe to call concurrently for different projections.
func (r *Runner) Rebuild(ctx context.Context, name string, progress func(Progress)) error {
	w, ok := r.workers[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownProjection, name)
	}
	w.mu.Lock()
	if w.rebuilding {
		w.mu.Unlock()
		return fmt.Errorf("%w: rebuild of %s", ErrRunning, name)
	}
	w.rebuilding = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.rebuilding = false
		w.mu.Unlock()
	}()
	if progress == nil {
		progress = func(Progress) {}
	}
	rb := &rebuild{r: r, w: w, next: rebuildSchema(name), progress: progress, start: time.Now()}
	if err := rb.run(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	stopped := !w.running && w.failed != nil
	w.mu.Unlock()
	if stopped {
		return r.Retry(name)
	}
	return nil
}

type rebuild struct {
	r        *Runner
	w        *worker
	next     string
	progress func(Progress)
	start    time.Time

	head       eventstore.Position
	total      int64
	applied    int64
	pos        eventstore.Position
	lastReport time.Time
	// deferred are the secondary indexes built after the replay.
	deferred []deferredIndex
}

func (rb *rebuild) run(ctx context.Context) error {
	r, w := rb.r, rb.w
	if _, err := r.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+rb.next+` CASCADE`); err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
	}
	if err := migrateProjection(ctx, r.pool.Config().ConnConfig, w.p, rb.next); err != nil {
		return err
	}
	deferred, err := deferIndexes(ctx, r.pool, rb.next)
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
	}
	rb.deferred = deferred
	head, ok, err := logEdge(ctx, r.store, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: read the head of the log: %w", w.name, err)
	}
	rb.total = -1
	if ok {
		rb.head = head.Position
		n, complete, err := r.cfg.Counter.Count(ctx, eventstore.Start, rb.head)
		if err != nil {
			return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
		}
		if complete {
			rb.total = n
		}
	} else {
		rb.total = 0
	}
	rb.report(ctx, Replaying, true)

	if err := rb.replay(ctx); err != nil {
		return err
	}
	if err := rb.finish(ctx); err != nil {
		return err
	}
	rb.report(ctx, Swapping, true)
	if err := rb.swap(ctx); err != nil {
		return err
	}
	rb.report(ctx, Finished, true)
	return nil
}

// replay applies the log from its start into the fresh schema until it has caught up.
// The events of a StreamLocal projection are shared out by stream among
// Config.RebuildWorkers writers, each with transactions of its own; the others are
// written by one.
func (rb *rebuild) replay(ctx context.Context) error {
	r, w := rb.r, rb.w
	workers := r.cfg.RebuildWorkers
	if sl, ok := w.p.(StreamLocal); !ok || !sl.StreamLocal() {
		workers = 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub, err := r.store.Subscribe(ctx, eventstore.Start, w.p.Filter())
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: subscribe: %w", w.name, err)
	}
	defer sub.Close()

	var (
		wg      sync.WaitGroup
		applied atomic.Int64
		queues  = make([]chan []eventstore.RecordedEvent, workers)
	)
	for i := range queues {
		queues[i] = make(chan []eventstore.RecordedEvent, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for events := range queues[i] {
				n, err := rb.write(ctx, events)
				if err != nil {
					cancel(err)
					for range queues[i] {
					}
					return
				}
				applied.Add(int64(n))
			}
		}()
	}
	finish := func() error {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
		rb.applied = applied.Load()
		if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
			return err
		}
		return nil
	}
	for {
		b, open := collect(ctx, sub.Messages(), rb.pos, r.cfg.BatchSize*workers, r.cfg.Linger, false, time.Time{}, nil)
		if len(b.events) > 0 {
			shares := make([][]eventstore.RecordedEvent, workers)
			for _, e := range b.events {
				i := 0
				if workers > 1 {
					h := fnv.New32a()
					h.Write([]byte(e.Stream))
					i = int(h.Sum32() % uint32(workers))
				}
				shares[i] = append(shares[i], e)
			}
			for i, share := range shares {
				if len(share) == 0 {
					continue
				}
				select {
				case queues[i] <- share:
				case <-ctx.Done():
				}
			}
		}
		rb.pos = b.pos
		rb.applied = applied.Load()
		if b.caughtUp {
			return finish()
		}
		if !open {
			err := finish()
			switch {
			case err != nil:
				return err
			case ctx.Err() != nil:
				return fmt.Errorf("projections: rebuild %s: %w", w.name, ctx.Err())
			case sub.Err() != nil:
				return fmt.Errorf("projections: rebuild %s: subscription ended: %w", w.name, sub.Err())
			}
			return fmt.Errorf("projections: rebuild %s: subscription ended", w.name)
		}
		rb.report(ctx, Replaying, false)
	}
}

// write applies events into the fresh schema in a transaction of its own and returns
// how many it applied.
func (rb *rebuild) write(ctx context.Context, events []eventstore.RecordedEvent) (int, error) {
	tx, err := rb.r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: begin: %w", rb.w.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := rb.w.setUpWrite(ctx, tx, rb.next); err != nil {
		return 0, err
	}
	n, err := rb.w.apply(ctx, tx, events, eventstore.Start, true, nil, func(*pgx.Batch, int, *eventstore.RecordedEvent) {})
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: commit: %w", rb.w.name, err)
	}
	return n, nil
}

// finish readies the fresh tables to serve as well as the tables they replace: each is
// cleared of the row versions the replay left behind (before its deferred indexes exist,
// so that only the indexes the replay kept are cleaned), gets its deferred indexes and
// has its statistics gathered. Up to Config.RebuildWorkers tables are finished at once,
// the largest first; each step is reported as it starts.
func (rb *rebuild) finish(ctx context.Context) error {
	rows, err := rb.r.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY pg_relation_size(c.oid) DESC, c.relname`, rb.next)
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", rb.w.name, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", rb.w.name, err)
	}
	type step struct{ what, sql string }
	var (
		chains [][]step
		total  int
	)
	for _, t := range tables {
		id := pgx.Identifier{rb.next, t}.Sanitize()
		chain := []step{{"vacuum " + t, `VACUUM ` + id}}
		for _, x := range rb.deferred {
			if x.Table == t {
				chain = append(chain, step{"index " + x.Name, x.Def})
			}
		}
		chain = append(chain, step{"analyze " + t, `ANALYZE ` + id})
		chains = append(chains, chain)
		total += len(chain)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		todo    = make(chan []step)
		started = make(chan string)
		wg      sync.WaitGroup
	)
	for range min(len(chains), rb.r.cfg.RebuildWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chain := range todo {
				for _, st := range chain {
					select {
					case started <- st.what:
					case <-ctx.Done():
						return
					}
					if _, err := rb.r.pool.Exec(ctx, st.sql); err != nil {
						cancel(fmt.Errorf("projections: rebuild %s: %s: %w", rb.w.name, st.what, err))
						return
					}
				}
			}
		}()
	}
	go func() {
		defer close(todo)
		for _, chain := range chains {
			select {
			case todo <- chain:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	for n := 1; ; n++ {
		select {
		case what := <-started:
			rb.reportStep(ctx, Indexing, fmt.Sprintf("%s (%d of %d)", what, n, total), true)
		case <-done:
			if err := context.Cause(ctx); err != nil {
				return fmt.Errorf("projections: rebuild %s: finish the tables: %w", rb.w.name, err)
			}
			return nil
		}
	}
}

// swap catches the fresh tables up with the live checkpoint and swaps them in.
func (rb *rebuild) swap(ctx context.Context) error {
	r, w := rb.r, rb.w
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: begin swap: %w", w.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `INSERT INTO public.projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING`, w.name); err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
	}
	live, err := readCheckpoint(ctx, tx, w.name, true)
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: lock checkpoint: %w", w.name, err)
	}
	filter := w.p.Filter()
	for rb.pos.Before(live) {
		page, err := r.store.ReadAll(ctx, eventstore.ReadAllOptions{From: rb.pos, Count: r.cfg.BatchSize})
		if err != nil {
			return fmt.Errorf("projections: rebuild %s: read the log: %w", w.name, err)
		}
		if len(page) == 0 {
			break
		}
		var todo []eventstore.RecordedEvent
		to, beyond := rb.pos, false
		for _, e := range page {
			if e.Position.After(live) {
				beyond = true
				break
			}
			to = e.Position
			if filter.Match(e.Stream, e.Type) {
				todo = append(todo, e)
			}
		}
		if err := w.setUpWrite(ctx, tx, rb.next); err != nil {
			return err
		}
		n, err := w.apply(ctx, tx, todo, rb.pos, false, nil, func(*pgx.Batch, int, *eventstore.RecordedEvent) {})
		if err != nil {
			return err
		}
		rb.applied += int64(n)
		rb.pos = to
		if beyond || len(page) < r.cfg.BatchSize {
			break
		}
	}
	final := rb.pos
	if live.After(final) {
		final = live
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, w.schema).Scan(&exists); err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
	}
	if exists {
		if _, err := tx.Exec(ctx, `DROP SCHEMA `+w.schema+` CASCADE`); err != nil {
			return fmt.Errorf("projections: rebuild %s: drop the live tables: %w", w.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `ALTER SCHEMA `+rb.next+` RENAME TO `+w.schema); err != nil {
		return fmt.Errorf("projections: rebuild %s: swap: %w", w.name, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE public.projection_checkpoints SET position = $2, updated_at = now(), rebuilt_at = now(),
		events_applied = $3, error = NULL, failed_at = NULL WHERE name = $1`, w.name, final.String(), rb.applied); err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", w.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projections: rebuild %s: commit swap: %w", w.name, err)
	}
	rb.pos = final
	w.mu.Lock()
	if final.After(w.checkpoint) {
		w.checkpoint = final
	}
	w.notifyLocked()
	w.mu.Unlock()
	return nil
}

// report calls the progress callback, at most every ProgressInterval unless force.
func (rb *rebuild) report(ctx context.Context, phase Phase, force bool) {
	rb.reportStep(ctx, phase, "", force)
}

func (rb *rebuild) reportStep(ctx context.Context, phase Phase, step string, force bool) {
	now := time.Now()
	if !force && now.Sub(rb.lastReport) < rb.r.cfg.ProgressInterval {
		return
	}
	rb.lastReport = now
	p := Progress{Projection: rb.w.name, Phase: phase, Applied: rb.applied, Position: rb.pos,
		Total: rb.total, Done: rb.applied, Elapsed: now.Sub(rb.start), Step: step}
	if rb.total >= 0 {
		left, complete, err := rb.r.cfg.Counter.Count(ctx, rb.pos, rb.head)
		if err == nil && complete {
			p.Done = max(0, rb.total-left)
		}
		if phase == Finished {
			p.Done = rb.total
		}
	}
	if secs := p.Elapsed.Seconds(); secs > 0 {
		p.Rate = float64(p.Done) / secs
	}
	if rb.total >= 0 && p.Rate > 0 {
		p.Remaining = time.Duration(float64(max(0, rb.total-p.Done)) / p.Rate * float64(time.Second))
	}
	rb.progress(p)
}
