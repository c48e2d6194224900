package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Defaults of Config.
const (
	DefaultBatchSize        = 500
	DefaultLinger           = 5 * time.Millisecond
	DefaultRetryMin         = 100 * time.Millisecond
	DefaultRetryMax         = 10 * time.Second
	DefaultWaitPoll         = 20 * time.Millisecond
	DefaultWaitTimeout      = 5 * time.Second
	DefaultProgressInterval = time.Second
	DefaultRebuildWorkers   = 4
	DefaultStandbyPoll      = time.Second
)

// Config tunes a Runner. The zero value selects every default.
type Config struct {
	// BatchSize is the largest number of events applied in one transaction.
	// Default DefaultBatchSize.
	BatchSize int
	// Linger is how long a batch waits for more events while the projection catches up
	// before it is written; once caught up, a batch is written as soon as no event is
	// ready. Default DefaultLinger; negative means no wait.
	Linger time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failure of the store or
	// the database (not of an event). Defaults DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// WaitPoll is how often WaitFor reads the checkpoint of a projection for which this
	// Runner is not the active one (another process projects). Default DefaultWaitPoll.
	WaitPoll time.Duration
	// WaitTimeout bounds WaitFor when it is given no timeout. Default DefaultWaitTimeout.
	WaitTimeout time.Duration
	// ProgressInterval is the least time between two progress reports of a rebuild.
	// Default DefaultProgressInterval.
	ProgressInterval time.Duration
	// RebuildWorkers is the number of concurrent writers a rebuild of a StreamLocal
	// projection uses. Default DefaultRebuildWorkers.
	RebuildWorkers int
	// StandbyPoll is how often a running Runner that stands by for a projection tries to
	// take it over, and how often the active one checks the connection that holds its
	// locks (see lease.go). Default DefaultStandbyPoll.
	StandbyPoll time.Duration
	// Counter counts the log events between two positions, for lag and rebuild progress.
	// Default ScanCounter{Limit: DefaultScanLimit} over the Runner's store; use
	// SequenceCounter with eventstore/pgstore.
	Counter Counter
	// Logger receives one record per failure and recovery. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults(store eventstore.Store) {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(DefaultRetryMax, c.RetryMin)
	}
	if c.WaitPoll <= 0 {
		c.WaitPoll = DefaultWaitPoll
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.RebuildWorkers <= 0 {
		c.RebuildWorkers = DefaultRebuildWorkers
	}
	if c.StandbyPoll <= 0 {
		c.StandbyPoll = DefaultStandbyPoll
	}
	if c.Counter == nil {
		c.Counter = ScanCounter{Store: store, Limit: DefaultScanLimit}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Runner keeps projections up to date with the log: each follows a subscription of its
// own from its stored checkpoint and writes its rows and its checkpoint in one
// transaction per batch. A Runner is safe for concurrent use. Several Runners (processes)
// may run the same projections on one database: one of them is active per projection,
// holding its advisory lock, and the others stand by, ready to take over (lease.go).
// Should two ever write at once, the checkpoint row is locked for the length of each
// batch and events at or before the stored checkpoint are skipped, so that no event is
// applied twice.
type Runner struct {
	pool    *pgxpool.Pool
	store   eventstore.Store
	cfg     Config
	log     *slog.Logger
	workers map[string]*worker
	order   []string

	mu     sync.Mutex
	runCtx context.Context // set while Run runs; guarded by mu
	lease  *lease          // set while Run runs; guarded by mu
	wg     sync.WaitGroup
}

// NewRunner returns a Runner of projections reading the log of store and writing to the
// database of pool, which stays the caller's. Errors: a projection name that is invalid
// or given twice.
func NewRunner(pool *pgxpool.Pool, store eventstore.Store, cfg Config, ps ...Projection) (*Runner, error) {
	cfg.setDefaults(store)
	r := &Runner{pool: pool, store: store, cfg: cfg, log: cfg.Logger, workers: make(map[string]*worker)}
	for _, p := range ps {
		name := p.Name()
		if err := checkName(name); err != nil {
			return nil, err
		}
		if _, dup := r.workers[name]; dup {
			return nil, fmt.Errorf("projections: projection %q given twice", name)
		}
		w := &worker{r: r, p: p, name: name, schema: Schema(name), changed: make(chan struct{}), scanning: make(chan struct{}, 1)}
		w.q, _ = p.(Queuer)
		w.sq, _ = p.(SetQueuer)
		r.workers[name] = w
		r.order = append(r.order, name)
	}
	return r, nil
}

// Migrate creates or updates the checkpoint table and the schema of every projection. It
// is idempotent and safe to run from several processes at once (migrations take an
// advisory lock). Run calls it.
func (r *Runner) Migrate(ctx context.Context) error {
	cfg := r.pool.Config().ConnConfig
	if err := migrateFS(ctx, cfg, "public", VersionTable, embedded("runner")); err != nil {
		return err
	}
	for _, name := range r.order {
		w := r.workers[name]
		if err := migrateProjection(ctx, cfg, w.p, w.schema); err != nil {
			return err
		}
		if _, err := r.pool.Exec(ctx, `INSERT INTO public.projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
			return fmt.Errorf("projections: migrate: %w", err)
		}
	}
	return nil
}

// Run migrates, then follows the log with every projection for which this Runner is
// active, standing by for the others, until ctx ends, and returns nil then (or the
// migration's error). A projection that fails on an event stops alone, logged once and
// reported by Status, and gives its lock back, while the others go on; failures of the
// store or the database are retried with backoff. Run returns ErrRunning if it already
// runs.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return ErrRunning
	}
	r.runCtx = ctx
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.runCtx, r.lease = nil, nil
		r.mu.Unlock()
	}()
	if err := r.Migrate(ctx); err != nil {
		return err
	}
	l := newLease(r.pool.Config().ConnConfig, r.cfg.StandbyPoll, r.log)
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		l.run(ctx)
	}()
	r.mu.Lock()
	r.lease = l
	r.mu.Unlock()
	for _, name := range r.order {
		r.start(ctx, r.workers[name])
	}
	<-ctx.Done()
	r.wg.Wait()
	<-leaseDone
	return nil
}

// Retry restarts a projection that stopped on a failing event, while Run runs. It
// returns ErrUnknownProjection for a name the Runner lacks, and nil, doing nothing, when
// the projection runs or Run does not.
func (r *Runner) Retry(name string) error {
	w, ok := r.workers[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownProjection, name)
	}
	r.mu.Lock()
	ctx := r.runCtx
	r.mu.Unlock()
	if ctx != nil {
		r.start(ctx, w)
	}
	return nil
}

func (r *Runner) start(ctx context.Context, w *worker) {
	r.mu.Lock()
	l := r.lease
	r.mu.Unlock()
	if l == nil {
		return
	}
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return
	}
	w.running, w.failed, w.caughtUp = true, nil, false
	w.notifyLocked()
	w.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w.run(ctx, l)
	}()
}

// worker runs one projection.
type worker struct {
	r      *Runner
	p      Projection
	q      Queuer
	sq     SetQueuer
	name   string
	schema string

	mu         sync.Mutex
	running    bool                // guarded by mu: Run runs the projection, active or standing by
	active     bool                // guarded by mu: this Runner holds the projection's lock and follows the log
	caughtUp   bool                // guarded by mu
	checkpoint eventstore.Position // guarded by mu: the last checkpoint this worker stored or read
	failed     error               // guarded by mu: the failure that stopped the worker
	interrupt  error               // guarded by mu: the store or database failure being retried
	changed    chan struct{}       // guarded by mu: closed and replaced on every change
	rebuilding bool                // guarded by mu
	// blocker is an event the filter selects that a gap scan of WaitFor found after the
	// checkpoint of its time: no wait for a position at or after it can pass before the
	// checkpoint does. Guarded by mu.
	blocker eventstore.Position
	// scanning holds a token while a WaitFor reads the log for a gap, so that waiters
	// share one reader instead of each taking a pool connection.
	scanning chan struct{}
	// atOnce and slowly count the live batches written in one round trip and those
	// written after the checkpoint was locked and read; refused counts the batches sent
	// in one round trip that failed there and were written the slow way after all.
	atOnce, slowly, refused atomic.Int64
}

func (w *worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// run stands by for the projection's lock, follows the log while it holds it, and stands
// by again when it loses it, until ctx ends or an event fails.
func (w *worker) run(ctx context.Context, l *lease) {
	for {
		lost, err := l.acquire(ctx, w.name)
		if err != nil {
			w.stop(nil)
			return
		}
		w.setActive(true)
		failure := w.lead(ctx, lost)
		w.setActive(false)
		switch {
		case failure != nil:
			l.giveBack(w.name)
			w.stop(failure)
			return
		case ctx.Err() != nil:
			w.stop(nil)
			return
		}
		w.r.log.Warn("projection lost its lock; standing by", "projection", w.name)
	}
}

// lead follows the log, retrying failures of the store or the database with backoff,
// until ctx ends, lost is closed or an event fails; it returns the event's failure.
func (w *worker) lead(ctx context.Context, lost <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := w.r.cfg.RetryMin
	for {
		progressed, err := w.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ae *ApplyError
		if errors.As(err, &ae) {
			w.r.log.Error("projection stopped on an event it cannot apply",
				"projection", w.name, "stream", ae.Stream, "version", ae.Version, "type", ae.Type,
				"position", ae.Position.String(), "error", ae.Err)
			w.recordFailure(ctx, err)
			return err
		}
		if progressed {
			backoff = w.r.cfg.RetryMin
		}
		w.interrupted(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, w.r.cfg.RetryMax)
	}
}

// setActive records whether this Runner holds the projection's lock.
func (w *worker) setActive(active bool) {
	w.mu.Lock()
	w.active, w.caughtUp, w.interrupt = active, false, nil
	w.notifyLocked()
	w.mu.Unlock()
	if active {
		w.r.log.Info("projection active", "projection", w.name)
	}
}

func (w *worker) stop(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running, w.active, w.failed, w.caughtUp = false, false, err, false
	w.notifyLocked()
}

// interrupted records a failure of the store or the database, logging it when it starts
// a streak of failures.
func (w *worker) interrupted(err error) {
	if err == nil {
		err = errors.New("subscription ended")
	}
	w.mu.Lock()
	first := w.interrupt == nil
	w.interrupt, w.caughtUp = err, false
	w.notifyLocked()
	w.mu.Unlock()
	if first {
		w.r.log.Warn("projection interrupted; retrying", "projection", w.name, "error", err)
	}
}

// recordFailure writes the failure to the checkpoint row, for the Status of every process.
// It is best effort: the failure is logged already, and a database that cannot take the
// write is itself the next failure the runner reports.
func (w *worker) recordFailure(ctx context.Context, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = w.r.pool.Exec(ctx, `UPDATE public.projection_checkpoints SET error = $2, failed_at = now() WHERE name = $1`, w.name, err.Error())
}

// advanced records a checkpoint written by this worker.
func (w *worker) advanced(pos eventstore.Position, caughtUp bool) {
	w.mu.Lock()
	recovered := w.interrupt != nil
	w.interrupt = nil
	if pos.After(w.checkpoint) {
		w.checkpoint = pos
	}
	w.caughtUp = w.caughtUp || caughtUp
	w.notifyLocked()
	w.mu.Unlock()
	if recovered {
		w.r.log.Info("projection resumed", "projection", w.name, "checkpoint", pos.String())
	}
}

// errNoCheckpoint reports a checkpoint row that vanished while a projection ran.
var errNoCheckpoint = errors.New("projections: the checkpoint row is missing")

// readCheckpoint returns the stored checkpoint of the projection: Start when it has no
// row, unless lock asks to lock the row, which must then exist.
func readCheckpoint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string, lock bool) (eventstore.Position, error) {
	sql := `SELECT position FROM public.projection_checkpoints WHERE name = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var s string
	if err := q.QueryRow(ctx, sql, name).Scan(&s); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			if lock {
				return eventstore.Position{}, errNoCheckpoint
			}
			return eventstore.Start, nil
		}
		return eventstore.Position{}, err
	}
	return eventstore.ParsePosition(s)
}

// follow subscribes from the stored checkpoint and applies batches until the
// subscription, the database or an event fails, or ctx ends. progressed reports whether
// a batch was written.
func (w *worker) follow(ctx context.Context) (progressed bool, err error) {
	if _, err := w.r.pool.Exec(ctx, `INSERT INTO public.projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING`, w.name); err != nil {
		return false, fmt.Errorf("projections: %s: create checkpoint: %w", w.name, err)
	}
	cp, err := readCheckpoint(ctx, w.r.pool, w.name, false)
	if err != nil {
		return false, fmt.Errorf("projections: %s: read checkpoint: %w", w.name, err)
	}
	w.mu.Lock()
	w.checkpoint = cp
	w.mu.Unlock()
	sub, err := w.r.store.Subscribe(ctx, cp, w.p.Filter())
	if err != nil {
		return false, fmt.Errorf("projections: %s: subscribe: %w", w.name, err)
	}
	defer sub.Close()
	pos, caughtUp := cp, false
	var spacing time.Duration
	if sp, ok := w.p.(Spaced); ok {
		spacing = sp.WriteInterval()
	}
	// The events of a batch are gathered into the array of the last one: nothing keeps
	// them once the batch is written.
	var (
		events    []eventstore.RecordedEvent
		lastWrite time.Time
	)
	for {
		var hold time.Time
		if caughtUp && spacing > 0 {
			hold = lastWrite.Add(spacing)
		}
		b, open := collect(ctx, sub.Messages(), pos, w.r.cfg.BatchSize, w.r.cfg.Linger, caughtUp, hold, events)
		caughtUp = caughtUp || b.caughtUp
		if len(b.events) > 0 || b.pos.After(pos) || b.caughtUp {
			lastWrite = time.Now()
			stored, err := w.writeLive(ctx, b)
			if err != nil {
				return progressed, err
			}
			clear(b.events)
			events = b.events[:0]
			progressed = true
			pos = b.pos
			w.advanced(stored, caughtUp)
		}
		if !open {
			if ctx.Err() != nil {
				return progressed, ctx.Err()
			}
			if err := sub.Err(); err != nil {
				return progressed, fmt.Errorf("projections: %s: subscription ended: %w", w.name, err)
			}
			return progressed, fmt.Errorf("projections: %s: subscription ended", w.name)
		}
	}
}

// batch is what collect gathers: events to apply and the checkpoint they reach.
type batch struct {
	events   []eventstore.RecordedEvent
	pos      eventstore.Position
	caughtUp bool
}

func (b *batch) add(m eventstore.Message) {
	if !m.Position.After(b.pos) {
		if m.Kind == eventstore.CaughtUpMessage {
			b.caughtUp = true
		}
		return
	}
	switch m.Kind {
	case eventstore.EventMessage:
		if m.Event != nil {
			b.events = append(b.events, *m.Event)
		}
	case eventstore.CaughtUpMessage:
		b.caughtUp = true
	}
	b.pos = m.Position
}

// collect waits for the next message, then gathers those ready, up to max events, into
// the array of into (emptied first) if it has one; before the subscription caught up it
// waits up to linger for each next one, and after, until hold if it is later (a Spaced
// projection's next batch). It stops after a CaughtUp message so that it is written at
// once. open is false when the subscription ended or ctx is done.
func collect(ctx context.Context, msgs <-chan eventstore.Message, from eventstore.Position, max int, linger time.Duration, caughtUp bool,
	hold time.Time, into []eventstore.RecordedEvent) (b batch, open bool) {
	b.pos, b.events = from, into[:0]
	select {
	case <-ctx.Done():
		return b, false
	case m, ok := <-msgs:
		if !ok {
			return b, false
		}
		b.add(m)
	}
	for len(b.events) < max && !b.caughtUp {
		wait := linger
		if caughtUp {
			wait = time.Until(hold)
		}
		m, got, open := eventstore.Receive(ctx, msgs, wait)
		if !open {
			return b, false
		}
		if !got {
			return b, true
		}
		b.add(m)
	}
	return b, true
}

const updateCheckpointSQL = `UPDATE public.projection_checkpoints SET position = $2, updated_at = now(),
	last_event_at = coalesce($3, last_event_at), events_applied = events_applied + $4, error = NULL, failed_at = NULL
WHERE name = $1`

// writeLive applies b to the live schema and stores its checkpoint in one transaction.
// It returns the checkpoint stored.
//
// A projection that queues its statements writes a batch in one round trip: the start of
// the transaction, the checkpoint's lock (projection_claim, refused unless the checkpoint
// is where this process last stored it), the writes, the checkpoint and the commit. The
// transaction takes its id, which holds back the horizon of the log's readers in the same
// cluster (see eventstore/pgstore), only while the server runs it, never while it waits
// for this process. Should the batch fail, the claim refused among other reasons, it is
// written the slow way.
func (w *worker) writeLive(ctx context.Context, b batch) (eventstore.Position, error) {
	conn, err := w.r.pool.Acquire(ctx)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("projections: %s: begin: %w", w.name, err)
	}
	defer func() { conn.Release() }()
	if w.q != nil {
		pos, ok, err := w.writeLiveAtOnce(ctx, conn.Conn(), b)
		if ok {
			w.atOnce.Add(1)
		}
		if ok || err != nil {
			return pos, err
		}
		if conn.Conn().IsClosed() {
			conn.Release()
			if conn, err = w.r.pool.Acquire(ctx); err != nil {
				return eventstore.Position{}, fmt.Errorf("projections: %s: begin: %w", w.name, err)
			}
		}
	}
	// The slow way runs on the same connection where it can: the statements it prepares
	// there, in the projection's schema, serve the next batches written at once.
	w.slowly.Add(1)
	return w.writeLiveLocked(ctx, conn.Conn(), b)
}

// sharedPathSQL sets the search path of the rest of a projection's transaction to the
// one of the statements every projection runs, so that their cached plans serve all.
const sharedPathSQL = `SELECT set_config('search_path', 'public', true)`

// checkpointTail returns the tail of a live batch that ends at pos: the search path back
// to public (sharedPathSQL), the checkpoint's update and the commit.
func (w *worker) checkpointTail(pos eventstore.Position) func(bt *pgx.Batch, n int, last *eventstore.RecordedEvent) {
	return func(bt *pgx.Batch, n int, last *eventstore.RecordedEvent) {
		var lastAt *time.Time
		if last != nil {
			t := last.Created
			lastAt = &t
		}
		bt.Queue(sharedPathSQL)
		bt.Queue(updateCheckpointSQL, w.name, pos.String(), lastAt, n)
		bt.Queue(`COMMIT`)
	}
}

// claimSQL locks a projection's checkpoint where it is expected (see projection_claim).
const claimSQL = `SELECT public.projection_claim($1, $2)`

// writeLiveAtOnce writes b in one round trip, on the strength of the checkpoint this
// worker last stored. ok is false, with a nil error, when the batch failed, the claim on
// the checkpoint refused among other reasons, and is to be written the slow way.
func (w *worker) writeLiveAtOnce(ctx context.Context, conn *pgx.Conn, b batch) (pos eventstore.Position, ok bool, err error) {
	w.mu.Lock()
	expected := w.checkpoint
	w.mu.Unlock()
	tx := connTx{conn}
	defer tx.rollbackOpen(ctx)
	pre := &prelude{}
	pre.Queue(`BEGIN`)
	pre.Queue(liveTimeoutSQL)
	// The claim runs before the search path moves to the projection's schema, and the
	// checkpoint's update after it moves back (checkpointTail): the projections share
	// connections and these statements, and PostgreSQL plans a statement again whenever
	// it runs under another search path than its cached plan's.
	pre.Queue(claimSQL, w.name, expected.String())
	pre.Queue(writeSettingsSQL, w.schema)
	pos = b.pos
	if expected.After(pos) {
		pos = expected
	}
	if _, err := w.apply(ctx, tx, b.events, expected, false, pre, w.checkpointTail(pos)); err != nil {
		// The slow way tells what failed: it reads the checkpoint again, so that events
		// the batch may have committed before its answer was lost are not applied twice.
		// A batch with a statement new to the connection is not sent (errUnprepared).
		if ctx.Err() != nil {
			return pos, false, fmt.Errorf("projections: %s: %w", w.name, ctx.Err())
		}
		if !errors.Is(err, errUnprepared) {
			w.refused.Add(1)
		}
		return pos, false, nil
	}
	if err := w.committed(conn); err != nil {
		return pos, false, err
	}
	return pos, true, nil
}

// writeLiveLocked writes b in a transaction on conn that locks the checkpoint first and
// reads it, in three round trips: the start, the checkpoint, and the writes with the
// checkpoint and the commit.
func (w *worker) writeLiveLocked(ctx context.Context, conn *pgx.Conn, b batch) (eventstore.Position, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: liveBeginSQL(w.schema)})
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("projections: %s: begin: %w", w.name, err)
	}
	defer connTx{conn}.rollbackOpen(ctx)
	stored, err := readCheckpoint(ctx, tx, w.name, true)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("projections: %s: lock checkpoint: %w", w.name, err)
	}
	pos := b.pos
	if stored.After(pos) {
		pos = stored
	}
	rec := &recordingTx{Tx: tx}
	if _, err := w.apply(ctx, rec, b.events, stored, false, nil, w.checkpointTail(pos)); err != nil {
		return eventstore.Position{}, err
	}
	if err := w.committed(conn); err != nil {
		return eventstore.Position{}, err
	}
	known := prepared(conn)
	for _, sql := range rec.sql {
		known[sql] = struct{}{}
	}
	return pos, nil
}

// committed checks that the batch just written, whose last statement is its COMMIT, left
// no transaction open on conn.
func (w *worker) committed(conn *pgx.Conn) error {
	if st := conn.PgConn().TxStatus(); st != 'I' {
		return fmt.Errorf("projections: %s: commit: the transaction is still open (status %q)", w.name, st)
	}
	return nil
}

// connTx is a transaction that its own statements open and commit on c.
type connTx struct{ c *pgx.Conn }

func (t connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.c.Exec(ctx, sql, args...)
}

// SendBatch sends b unless it holds a statement new to the connection, one no live batch
// has run on it (see prepared): pgx prepares such a statement in the same round trip
// before the batch's first statement runs, so before the batch sets the search path to
// the projection's schema, and the preparation would fail on the projection's tables.
// Such a batch fails with errUnprepared, unsent; the slow way prepares its statements in
// the right schema.
func (t connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	known := prepared(t.c)
	for _, q := range b.QueuedQueries {
		if _, ok := known[q.SQL]; !ok && !schemaFree[q.SQL] {
			return unsent{fmt.Errorf("%w: %.60q", errUnprepared, q.SQL)}
		}
	}
	return t.c.SendBatch(ctx, b)
}

// errUnprepared is the failure of a live batch written at once that holds a statement
// new to its connection (see connTx.SendBatch).
var errUnprepared = errors.New("a statement new to the connection")

// schemaFree holds the statements of a live batch written at once that name no table of
// the projection's schema, and that pgx can prepare under any search path.
var schemaFree = map[string]bool{
	`BEGIN`: true, liveTimeoutSQL: true, claimSQL: true, writeSettingsSQL: true,
	sharedPathSQL: true, updateCheckpointSQL: true, `COMMIT`: true,
}

// preparedKey is the key, in a connection's custom data, of the statements of the live
// batches written on it.
const preparedKey = "projections.prepared"

// prepared returns the set of the statements the live batches have run on conn, in their
// projections' schemas: those pgx holds prepared there. A connection is used by one
// goroutine at a time, and so is the set.
func prepared(conn *pgx.Conn) map[string]struct{} {
	data := conn.PgConn().CustomData()
	set, _ := data[preparedKey].(map[string]struct{})
	if set == nil {
		set = map[string]struct{}{}
		data[preparedKey] = set
	}
	return set
}

// unsent is the result of a batch that was not sent: every statement fails with err.
type unsent struct{ err error }

func (u unsent) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, u.err }
func (u unsent) Query() (pgx.Rows, error)         { return nil, u.err }
func (u unsent) QueryRow() pgx.Row                { return errRow(u) }
func (u unsent) Close() error                     { return u.err }
func (u unsent) Tx() pgx.Tx                       { return nil }

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// recordingTx is the transaction of a live batch written the slow way: it notes the
// statements the batch sends, which are prepared in the projection's schema as they run.
type recordingTx struct {
	pgx.Tx
	sql []string
}

func (t *recordingTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t.sql = append(t.sql, sql)
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *recordingTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, q := range b.QueuedQueries {
		t.sql = append(t.sql, q.SQL)
	}
	return t.Tx.SendBatch(ctx, b)
}

func (t connTx) Conn() *pgx.Conn { return t.c }

// rollbackOpen rolls back the transaction on c if one is still open, so that c goes back
// to the pool idle (a connection released in a transaction is closed).
func (t connTx) rollbackOpen(ctx context.Context) {
	if t.c.IsClosed() || t.c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := t.c.Exec(ctx, `ROLLBACK`); err != nil {
		t.c.Close(ctx)
	}
}

// writeTx is what apply needs of the transaction it writes in.
type writeTx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Conn() *pgx.Conn
}

// prelude holds the statements that open the first batch apply sends, the start of a
// transaction sent with its writes; it is emptied once they are sent.
type prelude struct{ pgx.Batch }

// batch returns a new batch holding the statements of p, if any, and their number.
func (p *prelude) batch() (*pgx.Batch, int) {
	b := &pgx.Batch{}
	if p == nil {
		return b, 0
	}
	b.QueuedQueries = append(b.QueuedQueries, p.QueuedQueries...)
	return b, len(p.QueuedQueries)
}

// sent records that the statements of p went out with a batch.
func (p *prelude) sent() {
	if p != nil {
		p.QueuedQueries = nil
	}
}

// liveBeginSQL opens a live batch's transaction in the schema given and sets it up as
// writeSettingsSQL does. A batch holds its checkpoint row locked from its first statement
// to its commit, and each statement follows the last within milliseconds: should the
// process freeze in between (stopped, paused, its machine suspended), PostgreSQL ends the
// session after a minute, and with it the lock that would hold back the process taking
// over (see lease.go).
func liveBeginSQL(schema string) string {
	return `BEGIN; ` + liveTimeoutSQL + `; ` +
		strings.Replace(writeSettingsSQL, "$1", `'`+strings.ReplaceAll(schema, `'`, `''`)+`'`, 1)
}

// liveTimeoutSQL ends the session of a live batch's transaction left idle (see liveBeginSQL).
const liveTimeoutSQL = `SET LOCAL idle_in_transaction_session_timeout = '60s'`

// writeSettingsSQL sets up a transaction that writes a projection's rows in the schema
// $1: its batches commit without waiting for the disk (see the package documentation);
// and the planner is kept to keyed access, nested loops over index scans, with the plans
// of the statements kept from one execution to the next. The writes read and write a few
// rows per event by key, and the statistics of the tables, above all of those a rebuild
// fills, lag far behind their contents: a plan made for the small table a rebuild starts
// with (a sequential scan, a hash join) would be repeated on the large one it ends with.
const writeSettingsSQL = `SELECT set_config('search_path', $1, true), set_config('synchronous_commit', 'off', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

// setUpWrite sets tx up to write a projection's rows in schema (see writeSettingsSQL).
func (w *worker) setUpWrite(ctx context.Context, tx pgx.Tx, schema string) error {
	if _, err := tx.Exec(ctx, writeSettingsSQL, schema); err != nil {
		return fmt.Errorf("projections: %s: set search path: %w", w.name, err)
	}
	return nil
}

// apply writes the events after floor within tx, set up for the projection's schema
// (liveBeginSQL, setUpWrite, or the statements of pre, sent first), and then runs the
// statements tail queues (given the number of events applied and the last of them), in as
// few round trips as the projection allows; replay is set for the batches of a rebuild's
// replay (see SetQueuer). It returns the number of events applied. An event's failure is
// an *ApplyError unless the database or the network is at fault; a failure of pre's
// statements is returned as it is, wrapped. A projection that is not a Queuer needs a
// pgx.Tx, and no pre.
func (w *worker) apply(ctx context.Context, tx writeTx, events []eventstore.RecordedEvent, floor eventstore.Position,
	replay bool, pre *prelude, tail func(b *pgx.Batch, applied int, last *eventstore.RecordedEvent)) (int, error) {
	for i := range events {
		storable(&events[i])
	}
	todo := events
	for i := range events {
		if !events[i].Position.After(floor) {
			// Some are at or before floor (written already): keep the others only.
			todo = nil
			for j := range events {
				if events[j].Position.After(floor) {
					todo = append(todo, events[j])
				}
			}
			break
		}
	}
	var last *eventstore.RecordedEvent
	if len(todo) > 0 {
		last = &todo[len(todo)-1]
	}
	if w.q == nil {
		ptx, ok := tx.(pgx.Tx)
		if !ok || pre != nil {
			return 0, fmt.Errorf("projections: %s: a projection that is not a Queuer is applied in a pgx.Tx", w.name)
		}
		for i := range todo {
			if err := w.p.Apply(ctx, ptx, todo[i]); err != nil {
				if poisoned(ctx, tx, err) {
					return 0, w.applyError(todo[i], err)
				}
				return 0, fmt.Errorf("projections: %s: %w", w.name, err)
			}
		}
		b := &pgx.Batch{}
		tail(b, len(todo), last)
		if err := runBatch(ctx, tx, b); err != nil {
			return 0, fmt.Errorf("projections: %s: write checkpoint: %w", w.name, err)
		}
		return len(todo), nil
	}
	if w.sq != nil && len(todo) > 1 {
		done, err := w.applySet(ctx, tx, todo, replay, last, pre, tail)
		if done || err != nil {
			return len(todo), err
		}
	}
	b, head := pre.batch()
	owner := make([]int, head, head+4*len(todo))
	for i := range owner {
		owner[i] = -1
	}
	for i := range todo {
		if err := w.q.Queue(b, todo[i]); err != nil {
			return 0, w.applyError(todo[i], err)
		}
		for len(owner) < b.Len() {
			owner = append(owner, i)
		}
	}
	tail(b, len(todo), last)
	br := tx.SendBatch(ctx, b)
	pre.sent()
	for i := 0; i < b.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if i < len(owner) && owner[i] >= 0 && poisoned(ctx, tx, err) {
				return 0, w.applyError(todo[owner[i]], err)
			}
			return 0, fmt.Errorf("projections: %s: write batch: %w", w.name, err)
		}
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("projections: %s: write batch: %w", w.name, err)
	}
	return len(todo), nil
}

// applySet writes events (more than one) with the statements QueueSet queues, behind a
// savepoint, then the tail, after the statements of pre. done is false, with a nil error,
// when QueueSet cannot queue the events or one of its statements fails on them: nothing
// of the events is left written, and they are to be applied event by event, which names
// the event at fault.
func (w *worker) applySet(ctx context.Context, tx writeTx, events []eventstore.RecordedEvent, replay bool, last *eventstore.RecordedEvent,
	pre *prelude, tail func(b *pgx.Batch, applied int, last *eventstore.RecordedEvent)) (done bool, err error) {
	b, head := pre.batch()
	b.Queue(`SAVEPOINT set_write`)
	if err := w.sq.QueueSet(b, events, replay); err != nil {
		return false, nil
	}
	set := b.Len()
	b.Queue(`RELEASE SAVEPOINT set_write`)
	tail(b, len(events), last)
	br := tx.SendBatch(ctx, b)
	pre.sent()
	for i := 0; i < b.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if i <= head || i >= set || !poisoned(ctx, tx, err) {
				return false, fmt.Errorf("projections: %s: write batch: %w", w.name, err)
			}
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT set_write`); err != nil {
				return false, fmt.Errorf("projections: %s: roll back a failed batch: %w", w.name, err)
			}
			return false, nil
		}
	}
	if err := br.Close(); err != nil {
		return false, fmt.Errorf("projections: %s: write batch: %w", w.name, err)
	}
	return true, nil
}

// poisoned reports whether err, returned while applying an event in tx, is the event's
// fault: neither ctx ended, nor was the connection lost, nor did the server report a
// transient failure.
func poisoned(ctx context.Context, tx writeTx, err error) bool {
	if ctx.Err() != nil || tx.Conn().IsClosed() {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !transient(err)
	}
	return true
}

func (w *worker) applyError(ev eventstore.RecordedEvent, err error) error {
	return &ApplyError{Projection: w.name, Stream: ev.Stream, Version: ev.Version, Type: ev.Type, Position: ev.Position, Err: err}
}

func runBatch(ctx context.Context, tx writeTx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}
