package pgstore

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/ticketledger/ticketledger/eventstore"
)

// VersionTable is the table in which the migrations of this package record the schema
// version; it is distinct from the version tables of other packages sharing the database.
const VersionTable = "eventstore_schema_version"

// Channel is the LISTEN/NOTIFY channel on which appends announce new events.
const Channel = "eventstore_events"

// Defaults of Config.
const (
	DefaultPollInterval       = time.Second
	DefaultBatchSize          = 1000
	DefaultCheckpointInterval = 1000
	DefaultVisibilityWait     = 500 * time.Millisecond
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Config tunes a Store. The zero value selects every default.
type Config struct {
	// MaxConns caps the connection pool that Open creates. Zero keeps pgxpool's default
	// (the larger of 4 and the number of CPUs) or the pool_max_conns of the URL. New
	// ignores it. Each Store with a live subscription holds one more connection, outside
	// the pool, for LISTEN.
	MaxConns int32
	// PollInterval is how often a live subscription reads the log when no notification
	// arrives. Default DefaultPollInterval.
	PollInterval time.Duration
	// BatchSize is the largest number of rows a subscription reads in one query.
	// Default DefaultBatchSize.
	BatchSize int
	// CheckpointInterval is the number of filtered-out events after which a subscription
	// reports a checkpoint even if it delivered events in the same batch; a batch that
	// delivers nothing but scans events always ends with a checkpoint.
	// Default DefaultCheckpointInterval.
	CheckpointInterval int
	// VisibilityWait bounds how long ReadAll waits for running transactions to finish when
	// events committed before the call are hidden behind them (see the package
	// documentation). After it, ReadAll returns the events already visible.
	// Default DefaultVisibilityWait.
	VisibilityWait time.Duration
	// AppendGroups is how many group statements may be written at once (see the package
	// documentation): the appends at an exact version or to no stream, those of commands,
	// made while others are being written are queued and written together. Default
	// DefaultAppendGroups; a negative value writes every append alone.
	AppendGroups int
	// AppendLinger is how long a group waits to be filled (to 8 appends) before it is
	// written, when appends are being written already. Default DefaultAppendLinger;
	// negative: no wait.
	AppendLinger time.Duration
}

func (c *Config) setDefaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.VisibilityWait <= 0 {
		c.VisibilityWait = DefaultVisibilityWait
	}
}

// Store is the PostgreSQL event store. It implements eventstore.Store and is safe for
// concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	ownsPool   bool
	connConfig *pgx.ConnConfig
	cfg        Config
	// id tags the notifications this Store sends so that its own listener ignores them:
	// its subscriptions are woken directly.
	id string

	hub    hub
	feed   *feed
	groups *groups // nil: every append is written alone
	// ownReads and feedReads count the reads of subscriptions from the database and from
	// the feed's window.
	ownReads, feedReads atomic.Int64
	notify              chan struct{}
	// ctx ends when Close is called; every goroutine of the Store watches it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool // guarded by mu
	listening bool // guarded by mu: the listener goroutine was started
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a PostgreSQL URL or key/value string as
// pgx accepts), migrates its schema and returns a Store owning a new connection pool,
// which Close closes. Errors wrap eventstore.ErrUnavailable when the database cannot be
// reached, or ctx.Err() when ctx ends first.
func Open(ctx context.Context, databaseURL string, cfg Config) (*Store, error) {
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if cfg.MaxConns > 0 {
		poolCfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s, err := newStore(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New migrates the schema of the database pool is connected to and returns a Store that
// uses pool, which stays the caller's: Close leaves it open, and the caller closes it after
// the Store. Migrations and listening use their own connections, configured as the pool's.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	return newStore(ctx, pool, cfg)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	cfg.setDefaults()
	connConfig := pool.Config().ConnConfig
	if err := migrateWith(ctx, connConfig); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s := &Store{
		pool:       pool,
		connConfig: connConfig,
		cfg:        cfg,
		id:         hex.EncodeToString(b[:]),
		notify:     make(chan struct{}, 1),
	}
	s.hub.subs = make(map[chan struct{}]struct{})
	s.feed = newFeed(s)
	s.groups = newGroups(s, cfg.AppendGroups, cfg.AppendLinger)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.goBackground(s.runNotifier)
	return s, nil
}

// Migrate brings the event-store schema of the database conn is connected to up to date.
// It is idempotent and safe to run concurrently from several processes (tern serialises
// migrations with an advisory lock). Open and New call it; it is exported for tools that
// migrate without opening a Store.
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return classify(ctx, "migrate", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return classify(ctx, "migrate", err)
	}
	return nil
}

func migrateWith(ctx context.Context, connConfig *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, connConfig.Copy())
	if err != nil {
		return classify(ctx, "migrate", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return Migrate(ctx, conn)
}

// Close stops the Store's background work, ends the subscriptions still open (their Err
// then wraps eventstore.ErrUnavailable), and closes the pool if Open created it. It is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if !already && s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// goBackground runs f in a goroutine that Close waits for, unless the Store is closed.
func (s *Store) goBackground(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

var errClosed = errors.New("pgstore: store closed")

// checkOpen returns ctx.Err() if ctx is done, and an error wrapping
// eventstore.ErrUnavailable once Close was called.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, errClosed)
	}
	return nil
}
