package projections

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable records the version of the runner's own schema (the checkpoint table); each
// projection's schema records its version in a schema_version table of its own.
const VersionTable = "public.projections_schema_version"

//go:embed migrations
var migrationFiles embed.FS

// embedded returns the migrations under migrations/dir.
func embedded(dir string) fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations/"+dir)
	if err != nil {
		return emptyFS{}
	}
	return sub
}

type emptyFS struct{}

// Open implements fs.FS: nothing exists.
func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// migrateFS runs the tern migrations of fsys on a connection made from cfg whose
// search_path is schema (public for the runner's own tables), recording the version in
// versionTable. Schema names are checked by checkName, so they need no quoting.
func migrateFS(ctx context.Context, cfg *pgx.ConnConfig, schema, versionTable string, fsys fs.FS) error {
	cfg = cfg.Copy()
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("projections: migrate %s: %w", schema, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("projections: migrate %s: %w", schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("projections: migrate %s: %w", schema, err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		return fmt.Errorf("projections: migrate %s: %w", schema, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("projections: migrate %s: %w", schema, err)
	}
	return nil
}

// migrateProjection brings the tables of p in schema up to date.
func migrateProjection(ctx context.Context, cfg *pgx.ConnConfig, p Projection, schema string) error {
	return migrateFS(ctx, cfg, schema, schema+".schema_version", p.Migrations())
}
