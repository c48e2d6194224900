// Package pgtest gives tests a fresh PostgreSQL database of their own, dropped when the
// test ends, so that tests never share state and may run in parallel; and a proxy to the
// server that can cut a client's connections or slow the server's answers.
//
// The server is the one named by TEST_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/postgres
// (trust authentication) when that is unset. A test that cannot reach it fails, except under
// -short where it is skipped with the reason.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the administrative connection used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the connection string of the server tests use.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database with a unique name and returns its connection
// string; the database is dropped (connections terminated) when tb ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (is PostgreSQL running on 127.0.0.1:5432?)", AdminURL(), err)
	}
	defer admin.Close(context.Background())

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	name := "tl_test_" + sanitize(tb.Name()) + "_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return databaseURL(tb, name)
}

// databaseURL returns the connection string of the database name on the test server.
func databaseURL(tb testing.TB, name string) string {
	tb.Helper()
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// KeptDatabase returns the connection string of the database name, which it creates
// empty if it does not exist, and whether it created it. Unlike NewDatabase's, the
// database is kept when tb ends, so that a benchmark can reuse a large data set across
// runs.
func KeptDatabase(tb testing.TB, name string) (url string, created bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (is PostgreSQL running on 127.0.0.1:5432?)", AdminURL(), err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		tb.Fatalf("pgtest: database %s: %v", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			tb.Fatalf("pgtest: create database %s: %v", name, err)
		}
	}
	return databaseURL(tb, name), !exists
}

// NewPool creates a fresh database as NewDatabase does and returns a pool connected to it,
// closed when tb ends (before the database is dropped).
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := NewDatabase(tb)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// sanitize turns a test name into a short lower-case identifier fragment.
func sanitize(name string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
		if sb.Len() >= 30 {
			return sb.String()
		}
	}
	return sb.String()
}
