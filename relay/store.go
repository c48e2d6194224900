package relay

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/relay/egress"
)

// VersionTable is the table in which the relay's migrations record its schema version,
// distinct from the version tables of other packages sharing the database.
const VersionTable = "relay_schema_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// StoreConfig tunes a Store. The zero value selects every default.
type StoreConfig struct {
	// Egress decides which URLs endpoints may be registered with. The zero policy refuses
	// loopback, private and link-local destinations; tests and local setups open loopback
	// with egress.Loopback.
	Egress egress.Policy
	// Logger receives the store's failures; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SecretKey, when set (SecretKeySize bytes), encrypts the endpoints' signing secrets at
	// rest with AES-256-GCM; NewStore then also encrypts those stored in clear. Without it
	// the secrets are stored as they are, and a store finding an encrypted one fails with
	// ErrSecretKey.
	SecretKey []byte
	// PreviousSecretKeys are keys the secrets may still be encrypted with: they open them,
	// and NewStore encrypts those secrets again under SecretKey, which they need. Once a
	// store has opened with the new key, the previous ones can be forgotten.
	PreviousSecretKeys [][]byte
}

func (c *StoreConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Store holds the relay's PostgreSQL tables: endpoints and their secrets, the relayed
// outcomes, deliveries with their attempts, and the relay checkpoint. It is the operator's
// interface (register, rotate, query, redeliver) and the state shared by Relay and
// Dispatcher. It is safe for concurrent use.
//
// Refusals are *domain.Error values: NotFound for an unknown endpoint or delivery,
// Invalid for malformed input (a URL to a forbidden address has code
// "forbidden-address" and wraps egress.ErrForbiddenAddress). Database failures are
// returned wrapped, as they are.
type Store struct {
	pool   *pgxpool.Pool
	cfg    StoreConfig
	sealer *sealer // nil without a key
	// installation identifies the database the relay's tables are in (relay_installation).
	installation uuid.UUID
}

// NewStore migrates the relay schema of the database pool is connected to and returns a
// Store over pool, which stays the caller's to close.
func NewStore(ctx context.Context, pool *pgxpool.Pool, cfg StoreConfig) (*Store, error) {
	cfg.setDefaults()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: migrate: %w", err)
	}
	defer conn.Release()
	if err := Migrate(ctx, conn.Conn()); err != nil {
		return nil, err
	}
	sl, err := newSealer(cfg.SecretKey, cfg.PreviousSecretKeys)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, cfg: cfg, sealer: sl}
	if err := pool.QueryRow(ctx, `SELECT id FROM relay_installation`).Scan(&s.installation); err != nil {
		return nil, fmt.Errorf("relay: installation: %w", err)
	}
	if n, err := s.sealStored(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		cfg.Logger.Info("relay: webhook secrets stored in clear or under a previous key are now encrypted under the current one", "secrets", n)
	}
	return s, nil
}

// Installation returns the id of the installation, made with the relay's tables, that
// every outcome message published through s carries.
func (s *Store) Installation() uuid.UUID { return s.installation }

// Migrate brings the relay schema up to date. It is idempotent and safe to run from
// several processes at once (tern serialises migrations with an advisory lock).
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("relay: migrate: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("relay: migrate: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("relay: migrate: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("relay: migrate: %w", err)
	}
	return nil
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC() }

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

func notFound(code, format string, args ...any) error {
	return domain.Errorf(domain.NotFound, code, format, args...)
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
