// Package projections is the read side of ticketledger: it folds the event log into
// PostgreSQL read models that serve workbenches, tracking and statistics, and keeps them
// up to date.
//
// # Runner
//
// A Projection has a name, a filter (the streams it needs), embedded tern migrations and
// an Apply that writes one event through a transaction. A Runner follows the log with each
// projection from its checkpoint, a row of the table projection_checkpoints, and writes
// every batch of events (up to Config.BatchSize, or what is ready once caught up) and the
// checkpoint in one transaction: a crash never loses nor doubles an update. (Batches
// commit with synchronous_commit off: a crash of PostgreSQL may forget the last batches
// committed, rows and checkpoint together, and the runner applies them again.) The batch
// transaction first locks the checkpoint row and skips every event at or before it, so
// redelivered events are ignored even when two processes project at once. Of several
// processes running the same projections on one database, one is active per projection,
// holding a PostgreSQL advisory lock on a connection of its own, while the others stand
// by and take over within Config.StandbyPoll of its session ending (lease.go); Status
// says which this process is. Checkpoint and
// catch-up messages of the subscription move the checkpoint through stretches of events
// the filter skips. Projections that implement Queuer have a whole batch written in one
// round trip; those that implement SetQueuer (tickets) have it written by
// statements that each apply many events (sets.go), and the writes run with the planner
// kept to keyed access and plans kept from one execution to the next. Projections that
// implement Spaced (the scheduler's reminders) have their live batches started at least
// an interval apart, gathering what arrives meanwhile.
//
// An event a projection cannot apply rolls its batch back and stops that projection alone:
// the failure is logged once with log/slog, recorded in the checkpoint row, and reported
// by Status as unhealthy, until Runner.Retry, a restart or a rebuild. Failures of the store
// or of the database are retried with exponential backoff, also reported while they last.
// Status reports each projection's checkpoint, last event time, health and lag behind the
// head of the log in events (counted by a Counter: ScanCounter on any store,
// SequenceCounter on eventstore/pgstore) and in time (the age of the oldest event not yet
// passed).
//
// WaitFor gives read-your-writes: it returns once a projection has passed a position (the
// one a command returned), within a bound.
//
// Rebuild replays the log from its start into fresh tables while the live ones serve,
// then swaps them in atomically, reporting progress (events done and total, rate, time
// left, then the steps of indexing). The fresh tables get their secondary indexes once
// full (deferred.go). In the replay as in live batches of several events, the tickets
// whose streams start in a batch are folded in memory and their rows inserted once
// (fold.go).
//
// # Schema
//
// Each projection owns the PostgreSQL schema Schema(name) ("rm_" + name), whose tern
// version table is schema_version; Apply writes unqualified names and the runner points
// the transaction's search_path at the schema being written, which is how a rebuild
// writes into a fresh schema with the same code. Queries name their tables with the
// schema. The runner's own table projection_checkpoints lives in public, versioned in
// public.projections_schema_version.
//
// # Read models
//
// The tickets projection (Tickets) holds, in rm_tickets: the tracking view (tickets,
// their routes and CC lists; tickets.go), the workbench's task rows (tasks.go, queried by
// Workbench: pending, done, submitted and CC'd lists per principal with filters, keyset
// pagination and counts), field visibility (visibility.go: Tickets.AsSeenBy filters fields
// in SQL) and the node activations behind Statistics (statistics.go: handling time per node
// and approver, SLA hits and misses). They share one checkpoint so that they always agree.
// The delegations projection (Delegations, rm_delegations) holds the grants that let a
// delegate act for a principal, which the workbench and visibility join. A ticket's
// timeline (Timeline: every event with actor, on-behalf-of, node, comment, time and
// position, and no field value) is read from its stream in the log, which the event store
// serves by key, rather than copied into a read model.
//
// Audit straight from the log, with the hash chain verified and a ticket's state at any
// instant or position replayed with the domain's own Evolve, is in package
// projections/audit.
//
// Every type of the package is safe for concurrent use.
package projections
