// Package pgstore is the PostgreSQL adapter of the event-store port: it implements
// eventstore.Store on one database, the embedded default of ticketledger.
//
// # Schema
//
// Open and New apply the package's migrations (tern, version table
// eventstore_schema_version) before returning. Events live in the append-only table events:
// a global position from an identity column, the id of the writing transaction
// (transaction_id xid8, default pg_current_xact_id()), the stream and the event's version in
// it (unique together), the event id, type, data and metadata stored byte for byte (bytea),
// and the time of the append. The table streams holds one row per stream: its version and
// whether it was tombstoned.
//
// # Appends
//
// An append is one round trip: a call of the SQL function eventstore_append, in its own
// transaction. The function takes a transaction-scoped advisory lock on the stream before
// its first write, checks the expected version (or recognises an idempotent retry), and
// writes the stream row and then the events. Because a transaction id is assigned at the
// first write, two appends to one stream get their ids in the order in which they hold the
// stream, so reading the log in (transaction_id, position) order keeps every stream's
// events in version order.
//
// # The global log
//
// ReadAll and subscriptions read events in (transaction_id, position) order and only below
// the horizon pg_snapshot_xmin(pg_current_snapshot()): an event is delivered once no
// transaction that could still commit an earlier event is running. A reader that resumes
// after the last position it saw therefore never skips an event committed late by a
// concurrent writer. Positions are eventstore.MakePosition(transaction_id, position).
//
// # Subscriptions
//
// A subscription catches up in batches of Config.BatchSize rows, reports CaughtUp, then
// follows the log live. It is woken by the appends of the same Store directly, by those of
// other processes through LISTEN/NOTIFY on the channel eventstore_events (one listening
// connection per Store, reconnected with backoff), and polls every Config.PollInterval as
// a fallback. Filters are applied in SQL; checkpoints report progress through stretches of
// filtered-out events.
package pgstore
