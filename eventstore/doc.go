// Package eventstore is the port every event store of ticketledger implements: an
// append-only log of immutable events, grouped in streams with optimistic concurrency,
// readable per stream and as one global, totally ordered log that can be followed live.
//
// Two adapters implement it: eventstore/pgstore (PostgreSQL, the embedded default) and
// eventstore/esdb (EventStoreDB, production). Both run the conformance suite in
// eventstore/storetest, so code written against Store behaves the same on either.
// A store may also read several streams in one request (StreamsReader: pgstore does);
// ReadStreams uses that where it can and reads stream by stream where it cannot.
//
// Versions are 1-based: the first event of a stream has Version 1 and a stream holding
// n events is at version n. Positions are opaque, totally ordered and round-trip through
// text so that they can be stored as checkpoints.
package eventstore
