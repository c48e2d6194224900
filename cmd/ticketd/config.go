package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ticketledger/ticketledger/relay"
)

// DefaultDatabaseURL is the embedded default: the local PostgreSQL.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/ticketledger?sslmode=disable"

// Roles a ticketd process may take.
const (
	roleAPI       = "api"
	roleProjector = "projector"
	roleRelay     = "relay"
	roleScheduler = "scheduler"
)

type config struct {
	addr            string
	databaseURL     string
	embedded        bool
	eventstoreURL   string
	roles           []string
	logLevel        slog.Level
	shutdownTimeout time.Duration
	// relayTransport is "sql" (Watermill over the same PostgreSQL) or "nats" (JetStream).
	relayTransport string
	natsURL        string
	// natsTopic is the JetStream stream and subject of the nats transport.
	natsTopic string
	// webhookAllow opens networks webhook endpoints may reach that are otherwise refused
	// (loopback, private, link-local).
	webhookAllow []netip.Prefix
	// pprofAddr, when set, is a separate listen address serving net/http/pprof.
	pprofAddr string
	// webhookSchedule is the delay before each delivery attempt (nil: the relay's
	// default); webhookTimeout bounds one attempt (0: the relay's default).
	webhookSchedule []time.Duration
	webhookTimeout  time.Duration
	// webhookRetention is how long the records of ended webhook deliveries are kept
	// (0: for ever).
	webhookRetention time.Duration
	// readLagBound is how far behind the log the tickets read model may fall before the
	// API holds commands back (see projections.Pacer); 0: never.
	readLagBound time.Duration
	// secretKey encrypts the webhook signing secrets at rest (nil: stored in clear).
	secretKey []byte
	// previousKeys are keys the secrets may still be encrypted with, to be encrypted
	// again under secretKey.
	previousKeys [][]byte
}

// defaultAddr is where ticketd listens unless --addr or TICKETD_ADDR says otherwise.
const defaultAddr = ":8080"

func (c config) has(role string) bool { return slices.Contains(c.roles, role) }

// parseConfig reads flags, falling back to the environment, then to the defaults.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("ticketd", flag.ContinueOnError)
	fs.SetOutput(out)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("TICKETD_ADDR", defaultAddr), "listen address (TICKETD_ADDR)")
	db := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL (DATABASE_URL); unset: postgres://postgres@127.0.0.1:5432/ticketledger?sslmode=disable, the database created if missing")
	es := fs.String("eventstore-url", env("EVENTSTORE_URL", ""), "the event store (EVENTSTORE_URL): EventStoreDB (esdb://...) or a PostgreSQL database of its own (postgres://...); unset: the --database-url PostgreSQL")
	roles := fs.String("roles", env("TICKETD_ROLES", "api,projector,relay,scheduler"), "roles: api, projector, relay, scheduler (TICKETD_ROLES)")
	level := fs.String("log-level", env("TICKETD_LOG_LEVEL", "info"), "debug, info, warn or error (TICKETD_LOG_LEVEL)")
	shutdown := fs.String("shutdown-timeout", env("TICKETD_SHUTDOWN_TIMEOUT", "30s"), "grace period for in-flight work (TICKETD_SHUTDOWN_TIMEOUT)")
	transport := fs.String("relay-transport", env("TICKETD_RELAY_TRANSPORT", "sql"), "outcome transport: sql (the same PostgreSQL) or nats (TICKETD_RELAY_TRANSPORT)")
	natsURL := fs.String("nats-url", env("NATS_URL", relay.DefaultNATSURL), "NATS server for --relay-transport=nats (NATS_URL)")
	natsTopic := fs.String("nats-topic", env("TICKETD_NATS_TOPIC", relay.DefaultTopic), "JetStream stream and subject of --relay-transport=nats; installations that share a NATS server each need their own (TICKETD_NATS_TOPIC)")
	allow := fs.String("webhook-allow", env("TICKETD_WEBHOOK_ALLOW", ""), "comma-separated networks webhooks may reach although internal, e.g. 127.0.0.0/8 (TICKETD_WEBHOOK_ALLOW)")
	schedule := fs.String("webhook-schedule", env("TICKETD_WEBHOOK_SCHEDULE", ""), "comma-separated delays before each webhook delivery attempt, the first counted from the outcome, the others from the previous failure; after the last attempt a delivery is dead-lettered (TICKETD_WEBHOOK_SCHEDULE); unset: "+scheduleString(relay.DefaultSchedule))
	timeout := fs.String("webhook-timeout", env("TICKETD_WEBHOOK_TIMEOUT", ""), "bound on one webhook delivery attempt (TICKETD_WEBHOOK_TIMEOUT); unset: "+relay.DefaultTimeout.String())
	retention := fs.String("webhook-retention", env("TICKETD_WEBHOOK_RETENTION", ""), "how long the records of webhook deliveries that ended (delivered or dead) are kept, with their attempts and outcome messages, e.g. 2160h; pruned hourly (TICKETD_WEBHOOK_RETENTION); unset: for ever")
	keyFile := fs.String("secret-key-file", env("TICKETD_SECRET_KEY_FILE", ""), "file holding the key, 32 bytes in base64 (openssl rand -base64 32), that encrypts the webhook signing secrets at rest (TICKETD_SECRET_KEY_FILE; or the key itself in TICKETD_SECRET_KEY); unset: the secrets are stored in clear")
	lagBound := fs.String("read-lag-bound", env("TICKETD_READ_LAG_BOUND", "100ms"), "how far the tickets read model may fall behind the commands of this process before commands' answers wait for it, a second at most, e.g. 100ms; 0: never (TICKETD_READ_LAG_BOUND)")
	prevFile := fs.String("previous-secret-key-file", env("TICKETD_PREVIOUS_SECRET_KEY_FILE", ""), "file holding earlier secret keys, one per line in base64, that the webhook signing secrets may still be encrypted with: they are encrypted again under the secret key at start, after which the earlier keys can go (TICKETD_PREVIOUS_SECRET_KEY_FILE; or the keys themselves, comma-separated, in TICKETD_PREVIOUS_SECRET_KEYS)")
	pprofAddr := fs.String("pprof-addr", env("TICKETD_PPROF_ADDR", ""), "listen address of the Go profiler (net/http/pprof), e.g. 127.0.0.1:6060; unset: off (TICKETD_PPROF_ADDR)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := config{addr: *addr, databaseURL: *db, eventstoreURL: *es, pprofAddr: *pprofAddr}
	if c.databaseURL == "" {
		c.databaseURL, c.embedded = DefaultDatabaseURL, true
	}
	for _, r := range strings.Split(*roles, ",") {
		r = strings.TrimSpace(r)
		switch r {
		case "":
		case roleAPI, roleProjector, roleRelay, roleScheduler:
			if !slices.Contains(c.roles, r) {
				c.roles = append(c.roles, r)
			}
		default:
			return config{}, fmt.Errorf("unknown role %q: want api, projector, relay or scheduler", r)
		}
	}
	if len(c.roles) == 0 {
		return config{}, errors.New("no role: give at least one of api, projector, relay, scheduler")
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return config{}, fmt.Errorf("log level %q: %w", *level, err)
	}
	var err error
	if c.shutdownTimeout, err = positiveDuration("shutdown timeout", *shutdown, "30s"); err != nil {
		return config{}, err
	}
	switch *transport {
	case "sql", "nats":
		c.relayTransport, c.natsURL, c.natsTopic = *transport, *natsURL, *natsTopic
		if err := (relay.NATSTransportConfig{Topic: c.natsTopic}).Validate(); err != nil {
			return config{}, fmt.Errorf("NATS topic %q: must not contain '.', '*', '>' or spaces", c.natsTopic)
		}
	default:
		return config{}, fmt.Errorf("relay transport %q: want sql or nats", *transport)
	}
	for _, n := range strings.Split(*allow, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return config{}, fmt.Errorf("webhook-allow %q: want networks such as 127.0.0.0/8 or ::1/128", n)
		}
		c.webhookAllow = append(c.webhookAllow, p.Masked())
	}
	if *schedule != "" {
		for _, part := range strings.Split(*schedule, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d < 0 {
				return config{}, fmt.Errorf("webhook-schedule %q: want delays such as 0s,10s,5m,1h, one per attempt", *schedule)
			}
			c.webhookSchedule = append(c.webhookSchedule, d)
		}
	}
	if *timeout != "" {
		if c.webhookTimeout, err = positiveDuration("webhook-timeout", *timeout, "15s"); err != nil {
			return config{}, err
		}
	}
	switch key := getenv("TICKETD_SECRET_KEY"); {
	case key != "" && *keyFile != "":
		return config{}, errors.New("secret key: give TICKETD_SECRET_KEY or --secret-key-file, not both")
	case key != "":
		if c.secretKey, err = relay.ParseSecretKey(key); err != nil {
			return config{}, fmt.Errorf("TICKETD_SECRET_KEY: %w", err)
		}
	case *keyFile != "":
		text, err := os.ReadFile(*keyFile)
		if err != nil {
			return config{}, fmt.Errorf("secret key file: %w", err)
		}
		if c.secretKey, err = relay.ParseSecretKey(string(text)); err != nil {
			return config{}, fmt.Errorf("secret key file %s: %w", *keyFile, err)
		}
	}
	// 0, with a unit or without, turns it off; anything else must be a positive duration.
	if d, perr := time.ParseDuration(*lagBound); !(*lagBound == "0" || perr == nil && d == 0) {
		if c.readLagBound, err = positiveDuration("read-lag-bound", *lagBound, "100ms"); err != nil {
			return config{}, err
		}
	}
	prevText := getenv("TICKETD_PREVIOUS_SECRET_KEYS")
	switch {
	case prevText != "" && *prevFile != "":
		return config{}, errors.New("previous secret keys: give TICKETD_PREVIOUS_SECRET_KEYS or --previous-secret-key-file, not both")
	case *prevFile != "":
		text, err := os.ReadFile(*prevFile)
		if err != nil {
			return config{}, fmt.Errorf("previous secret key file: %w", err)
		}
		prevText = strings.ReplaceAll(string(text), "\n", ",")
	}
	for i, k := range strings.Split(prevText, ",") {
		if strings.TrimSpace(k) == "" {
			continue
		}
		key, err := relay.ParseSecretKey(k)
		if err != nil {
			return config{}, fmt.Errorf("previous secret key %d: %w", i+1, err)
		}
		c.previousKeys = append(c.previousKeys, key)
	}
	if len(c.previousKeys) > 0 && c.secretKey == nil {
		return config{}, errors.New("previous secret keys need a secret key (TICKETD_SECRET_KEY or --secret-key-file) to encrypt the webhook secrets under")
	}
	if *retention != "" {
		if c.webhookRetention, err = positiveDuration("webhook-retention", *retention, "2160h (90 days)"); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// positiveDuration parses the setting named what, refusing what is not a positive duration
// with an example of one.
func positiveDuration(what, value, example string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration such as %s", what, value, example)
	}
	return d, nil
}

// scheduleString writes a retry schedule as the flag takes it.
func scheduleString(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
