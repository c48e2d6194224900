// Package pgstore is the PostgreSQL adapter of the event-store port: it implements
// eventstore.Store on one database, the embedded default of ticketledger.
//
// # Schema
//
// Open and New apply the package's migrations (tern, version table
// eventstore_schema_version) before returning. Events live in one append-only table,
// events: a global position from an identity column, the id of the writing transaction
// (transaction_id xid8, default pg_current_xact_id()), the stream and the event's version
// in it, the event id, type, data and metadata stored byte for byte (bytea), and the time
// of the append. Its primary key is (transaction_id, position), the order of the global
// log; a unique key on (stream, version), which also carries event_id, serves stream reads
// and makes racing appends collide. A stream's version is its highest event version; a
// tombstoned stream ends with a system event of type "$tombstone", which readers of the
// global log never deliver.
//
// # Appends
//
// An append is one INSERT ... SELECT statement, a transaction of its own and one round
// trip. It computes the versions of the new events from the stream's last event in its
// snapshot and writes only if the expected version holds; two appends computed from the
// same version collide on the unique key, and the loser gets a wrong-expected-version
// error (Any and StreamExists appends are retried instead). An append that writes nothing
// takes one more round trip to tell an idempotent retry from a conflict.
//
// Appends at an exact version or to no stream, those of commands, are group-committed:
// one made while others are being written waits in a queue, and up to Config.AppendGroups
// writers each take what is queued (waiting up to Config.AppendLinger for 8 appends) and
// write it with one statement, one transaction and one commit. The statement writes the
// appends whose expected version holds and skips the others; those, and all the appends
// of a statement that fails (a race with another process on one of its streams), are
// then written alone, which tells a conflict, a tombstone or a retry apart as above. A
// group never holds two appends to one stream, nor do two groups being written. An append
// made while nothing else is being written is written alone at once.
//
// Since a transaction id is assigned at the transaction's first write, which comes after
// the statement's snapshot, the transaction that writes version k+1 of a stream always has
// a larger id than the one that wrote version k, already committed in that snapshot:
// reading the log in (transaction_id, position) order keeps every stream's events in
// version order.
//
// # Imports
//
// Import is the path for seeding a store and migrating history into it: it writes whole
// new streams with COPY, in transactions of about ImportOptions.ChunkEvents events that
// each hold whole streams, so that every stream is written by one transaction in version
// order and the ordering argument above holds as for appends. The unique key refuses
// streams that already exist; subscriptions are woken after every chunk.
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
// follows the log live. The live subscriptions of a Store share one reader of the log's
// tail, which keeps the most recent rows (at least 4096) in memory: a subscription whose
// cursor lies in that window takes its rows from there and filters them itself, so the
// database serves each new event once per Store rather than once per subscription; one
// that falls behind the window reads the database itself until it is back. The reader is
// woken by the appends of the same Store directly, by those of other processes through
// LISTEN/NOTIFY on the channel eventstore_events (one listening connection per Store,
// application_name pgstore-listener, reconnected with backoff; appends are announced by a
// separate NOTIFY at most every 10ms), and polls every Config.PollInterval as a fallback.
// When the horizon hides events already committed, it reads again after a few
// milliseconds, with backoff; a read returns the first hidden row without its data, only
// to tell that the horizon holds rows back. A subscription reading the database applies
// its filter in SQL. Checkpoints report progress through stretches of filtered-out events.
package pgstore
