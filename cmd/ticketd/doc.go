// Command ticketd is the ticketledger server: the HTTP API, the projector that keeps the
// read models up to date, the outcome relay that sends final outcomes to business systems
// as signed webhooks, and the scheduler that sends SLA reminders, in one process by default
// and separable with --roles for scale-out.
//
// Configuration, each flag with its environment variable:
//
//	--addr            TICKETD_ADDR      listen address (default ":8080")
//	--database-url    DATABASE_URL      PostgreSQL for read models, and the event store
//	                                    when --eventstore-url is unset (default: the local
//	                                    PostgreSQL on 127.0.0.1:5432, user postgres,
//	                                    database "ticketledger", created if missing)
//	--eventstore-url  EVENTSTORE_URL    the event store when it is not the --database-url
//	                                    PostgreSQL: EventStoreDB (esdb://...), or a
//	                                    PostgreSQL database of its own (postgres://...),
//	                                    best in another cluster, whose visibility horizon
//	                                    read-model writes then do not hold back
//	--roles           TICKETD_ROLES     comma-separated: api, projector, relay, scheduler (default all)
//	--relay-transport TICKETD_RELAY_TRANSPORT  sql (default: Watermill on the same
//	                                    PostgreSQL) or nats (JetStream)
//	--nats-url        NATS_URL          NATS server for the nats transport
//	                                    (default nats://127.0.0.1:4222)
//	--nats-topic      TICKETD_NATS_TOPIC  JetStream stream and subject of the nats
//	                                    transport, one per installation (default
//	                                    ticket-outcomes)
//	--webhook-allow   TICKETD_WEBHOOK_ALLOW  networks webhooks may reach although
//	                                    internal, e.g. 127.0.0.0/8 (default none)
//	--read-lag-bound  TICKETD_READ_LAG_BOUND  how far the tickets read model may fall
//	                                    behind this process's commands before their answers
//	                                    wait for it, a second at most (default 100ms; 0: off)
//	--log-level       TICKETD_LOG_LEVEL debug, info, warn or error (default info)
//	--shutdown-timeout TICKETD_SHUTDOWN_TIMEOUT  how long in-flight requests may take to
//	                                    finish on SIGINT or SIGTERM (default 30s)
//	--pprof-addr      TICKETD_PPROF_ADDR  a separate address serving the Go profiler
//	                                    (net/http/pprof), e.g. 127.0.0.1:6060 (default off)
//	--webhook-schedule TICKETD_WEBHOOK_SCHEDULE  delays before each delivery attempt,
//	                                    comma-separated (default 0s,5s,5m,30m,2h,5h,10h,10h);
//	                                    after the last a delivery is dead-lettered
//	--webhook-timeout TICKETD_WEBHOOK_TIMEOUT  bound on one delivery attempt (default 15s)
//	--webhook-retention TICKETD_WEBHOOK_RETENTION  how long records of ended deliveries
//	                                    are kept, pruned hourly (default for ever)
//	--secret-key-file TICKETD_SECRET_KEY_FILE (or the key in TICKETD_SECRET_KEY)  32
//	                                    bytes in base64 that encrypt the webhook signing
//	                                    secrets at rest (default: stored in clear)
//	--previous-secret-key-file TICKETD_PREVIOUS_SECRET_KEY_FILE (or the keys,
//	                                    comma-separated, in TICKETD_PREVIOUS_SECRET_KEYS)
//	                                    earlier keys the secrets may still be encrypted
//	                                    with; they are encrypted again at start
//
// `ticketd healthcheck [URL]` asks a running ticketd's /readyz (by default on the port of
// TICKETD_ADDR on 127.0.0.1) and exits 0 on a 200: the check of a container image that
// has no client of its own.
//
// On the first start of a fresh installation ticketd creates the principal "admin" and
// prints its bearer token once. It serves /healthz, /readyz (event store, PostgreSQL,
// principal index and read models caught up), /metrics (Prometheus) and /openapi.json
// besides the API under /v1, and logs JSON lines with log/slog on standard output.
package main
