package dbconn_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketledger/ticketledger/internal/dbconn"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// TestErrorOnARealServer: connecting to a database that does not exist, on the real
// PostgreSQL, says so and how to create it; a port where no server listens says that no
// PostgreSQL answers. Both keep the driver's error wrapped.
func TestErrorOnARealServer(t *testing.T) {
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_db_dbconn"
	missing := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pgx.Connect(ctx, missing)
	if err == nil {
		t.Fatal("connected to a database that does not exist")
	}
	got := dbconn.Error(missing, "--database-url", err).Error()
	for _, want := range []string{`database "no_such_db_dbconn" does not exist on the PostgreSQL at `, "createdb -h ", " no_such_db_dbconn\n", "(--database-url)"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing database: %q lacks %q", got, want)
		}
	}
	var pgErr *pgconn.PgError
	if !errors.As(dbconn.Error(missing, "x", err), &pgErr) {
		t.Error("the driver's error is not wrapped")
	}

	closed := "postgres://postgres@127.0.0.1:1/ticketledger?sslmode=disable&connect_timeout=2"
	_, err = pgx.Connect(ctx, closed)
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if got := dbconn.Error(closed, "DATABASE_URL", err).Error(); !strings.HasPrefix(got, "no PostgreSQL answers at 127.0.0.1:1 (") {
		t.Errorf("no server: %q", got)
	}
}

// TestErrorByCode words the server's refusals by their SQLSTATE.
func TestErrorByCode(t *testing.T) {
	u := "postgres://shop:secret@db.example:5433/tickets"
	for code, want := range map[string]string{
		"28P01": `the PostgreSQL at db.example:5433 refused user "shop" (flag): password authentication failed; give a user and password it accepts in the URL`,
		"28000": `the PostgreSQL at db.example:5433 refused user "shop" (flag): password authentication failed;`,
		"57P03": `the PostgreSQL at db.example:5433 cannot take a connection now (flag): password authentication failed; try again once it can`,
		"XX000": `the PostgreSQL at db.example:5433 refused the connection to postgres://shop:xxxxx@db.example:5433/tickets (flag)`,
	} {
		err := errors.Join(&pgconn.ConnectError{Config: &pgconn.Config{}}, &pgconn.PgError{Code: code, Message: "password authentication failed"})
		got := dbconn.Error(u, "flag", err).Error()
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want it to start %q", code, got, want)
		}
		if strings.Contains(got, "secret") {
			t.Errorf("%s: the password shows: %q", code, got)
		}
	}
}

// TestErrorNotConnecting: a failure other than connecting keeps its own words, after the
// URL without its password.
func TestErrorNotConnecting(t *testing.T) {
	err := dbconn.Error("postgres://u:pw@h/d", "flag", &pgconn.PgError{Severity: "ERROR", Code: "42P01", Message: "relation does not exist"})
	if got := err.Error(); got != "PostgreSQL at postgres://u:xxxxx@h/d (flag): ERROR: relation does not exist (SQLSTATE 42P01)" {
		t.Errorf("%q", got)
	}
}

// TestRedact hides the password of every form of URL.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/d?sslmode=disable":     "postgres://u:xxxxx@h:5432/d?sslmode=disable",
		"esdb://admin:changeit@es:2113?tls=false":      "esdb://admin:xxxxx@es:2113?tls=false",
		"host=h port=5433 user=u password=pw dbname=d": "postgres://u:xxxxx@h:5433/d",
		"postgres://u@h/d":                             "postgres://u@h/d",
		"host=h user=u dbname=d":                       "host=h user=u dbname=d",
	} {
		if got := dbconn.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
