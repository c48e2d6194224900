// Package dbconn words what goes wrong connecting to a database for whoever runs ticketd
// or its tools: database URLs are shown without their password, and a failure to reach
// PostgreSQL says which one it is and what to do (no server answers, the server refuses
// the user, the database does not exist, the server cannot take a connection now).
package dbconn

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Error returns err, a failure to use the database of databaseURL, worded for an operator
// when it is a failure to connect (a *pgconn.ConnectError), and otherwise only prefixed
// with the URL. given says where the URL came from (for example "--database-url or
// DATABASE_URL"). The URL is shown without its password. err stays wrapped.
func Error(databaseURL, given string, err error) error {
	if !errors.As(err, new(*pgconn.ConnectError)) {
		return fmt.Errorf("PostgreSQL at %s (%s): %w", Redact(databaseURL), given, err)
	}
	host, port, user, db := "", uint16(0), "", ""
	if cc, perr := pgx.ParseConfig(databaseURL); perr == nil {
		host, port, user, db = cc.Host, cc.Port, cc.User, cc.Database
	}
	where := Redact(databaseURL)
	server := host
	if port != 0 {
		server += ":" + strconv.Itoa(int(port))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000": // invalid_catalog_name
			return fmt.Errorf("database %q does not exist on the PostgreSQL at %s (%s): create it first, for example with\n"+
				"    createdb -h %s -p %d -U %s %s\nor name another database: %w", db, server, given, host, port, user, db, err)
		case "28000", "28P01": // invalid_authorization_specification, invalid_password
			return fmt.Errorf("the PostgreSQL at %s refused user %q (%s): %s; give a user and password it accepts in the URL: %w",
				server, user, given, pgErr.Message, err)
		case "57P03", "53300": // cannot_connect_now, too_many_connections
			return fmt.Errorf("the PostgreSQL at %s cannot take a connection now (%s): %s; try again once it can: %w",
				server, given, pgErr.Message, err)
		}
		return fmt.Errorf("the PostgreSQL at %s refused the connection to %s (%s): %w", server, where, given, err)
	}
	return fmt.Errorf("no PostgreSQL answers at %s (%s, %s): %w", server, where, given, err)
}

// Redact returns a database URL (postgres://, esdb://, or PostgreSQL's key=value form)
// without its password.
func Redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if cc, err := pgconn.ParseConfig(s); err == nil && cc.Password != "" {
		return fmt.Sprintf("postgres://%s:xxxxx@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
	}
	return s
}
