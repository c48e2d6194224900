package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/ticketledger/ticketledger/internal/dbconn"
)

// Defaults of the flags.
const (
	DefaultServer       = "http://127.0.0.1:8080"
	DefaultDatabaseURL  = "postgres://postgres@127.0.0.1:5432/ticketledger?sslmode=disable"
	DefaultTickets      = 1000
	DefaultConcurrency  = 64
	DefaultDuration     = 5 * time.Minute
	DefaultLagEvery     = 10
	DefaultBaselineTime = 10 * time.Second
	DefaultTimeout      = 30 * time.Second
)

// usageError reports a command line that cannot be run; ticketbench exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// config is a run's settings.
type config struct {
	server       string
	token        string
	databaseURL  string
	tickets      int
	concurrency  int
	duration     time.Duration
	lagEvery     int
	baselineTime time.Duration
	timeout      time.Duration
	progress     time.Duration
	latencies    string
}

// parseConfig reads flags, falling back to the environment, then to the defaults.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("ticketbench", flag.ContinueOnError)
	fs.SetOutput(out)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs.StringVar(&c.server, "server", env("TICKETLEDGER_SERVER", DefaultServer), "ticketd's base URL (TICKETLEDGER_SERVER)")
	fs.StringVar(&c.token, "token", getenv("TICKETLEDGER_TOKEN"), "an admin's bearer token (TICKETLEDGER_TOKEN)")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", DefaultDatabaseURL), "PostgreSQL of the INSERT baseline (DATABASE_URL)")
	fs.IntVar(&c.tickets, "tickets", DefaultTickets, "tickets to drive through the process")
	fs.IntVar(&c.concurrency, "concurrency", DefaultConcurrency, "concurrent clients")
	fs.DurationVar(&c.duration, "duration", DefaultDuration, "cap on the load phase")
	fs.IntVar(&c.lagEvery, "lag-every", DefaultLagEvery, "probe the projection lag after every N-th command; 0: never")
	fs.DurationVar(&c.baselineTime, "baseline-time", DefaultBaselineTime, "length of the raw INSERT baseline; 0: skip it")
	fs.DurationVar(&c.timeout, "timeout", DefaultTimeout, "bound on each HTTP request")
	fs.DurationVar(&c.progress, "progress", time.Second, "interval of the progress lines on stderr")
	fs.StringVar(&c.latencies, "latencies", "", "write every command's start, kind, latency, server time, read-model wait and event-store time to this CSV file")
	if tok := fs.Lookup("token"); tok.DefValue != "" {
		tok.DefValue = "$TICKETLEDGER_TOKEN"
	}
	fs.Lookup("database-url").DefValue = dbconn.Redact(c.databaseURL)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return c, err
		}
		return c, &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected arguments %q", fs.Args())
	}
	u, err := url.Parse(c.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return c, usagef("--server %q: want a base URL such as %s", c.server, DefaultServer)
	}
	c.server = strings.TrimRight(u.String(), "/")
	switch {
	case c.token == "":
		return c, usagef("no admin token: give --token or set TICKETLEDGER_TOKEN (ticketd prints the first admin's token once, when it first starts)")
	case c.tickets < 1:
		return c, usagef("--tickets %d: want at least 1", c.tickets)
	case c.concurrency < 1 || c.concurrency > 1024:
		return c, usagef("--concurrency %d: want 1 to 1024", c.concurrency)
	case c.duration <= 0:
		return c, usagef("--duration %s: want a positive duration", c.duration)
	case c.lagEvery < 0:
		return c, usagef("--lag-every %d: want 0 (never) or more", c.lagEvery)
	case c.baselineTime < 0:
		return c, usagef("--baseline-time %s: want 0 (skip) or more", c.baselineTime)
	case c.timeout <= 0:
		return c, usagef("--timeout %s: want a positive duration", c.timeout)
	case c.progress <= 0:
		return c, usagef("--progress %s: want a positive duration", c.progress)
	}
	return c, nil
}
