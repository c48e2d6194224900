// Package commands carries out ticketledger's use cases over the event store, one file per
// use case: load the aggregate's stream, fold it, let the pure domain decide, and append the
// resulting events at the version that was read. On a version conflict the handler reloads
// and decides again, a bounded number of times; event ids derive from the command id, so a
// retried command never doubles an event. Every event carries envelope metadata and, for
// chained streams, the next link of the stream's SHA-256 hash chain.
package commands
