// Package esdbtest is a wire-level double of an EventStoreDB node for tests: an in-process
// gRPC server, holding its log in memory, that speaks the Streams and ServerFeatures
// protocols the way an EventStoreDB 24.10 node does for the calls the official Go client
// (EventStore-Client-Go v4) makes.
//
// It serves appends with every kind of expected revision (including idempotent re-appends),
// stream reads in both directions, $all reads, catch-up and live subscriptions to $all
// (filtered by stream-name or event-type prefix or regular expression, with checkpoints)
// and to single streams, soft deletes and tombstones, and reports failures in-band or as
// gRPC statuses with the trailers the client inspects. Its $all holds system events, as a
// real node's does: a seeded event in a '$' stream, '$metadata' events written by deletes
// and '$streamDeleted' tombstones, so that consumers are made to skip them.
//
// It does not implement BatchAppend, persistent subscriptions, projections, gossip, users,
// ACLs, stream metadata other than what deletes write, link resolution, scavenging, or
// TLS. It is for tests only: production code must never import it.
//
// A Server is safe for concurrent use; every RPC runs on its own goroutine, appends never
// wait for subscribers, and a slow subscriber catches up from the in-memory log.
package esdbtest
