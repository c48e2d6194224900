// Package storetest is the conformance suite every eventstore.Store implementation runs.
//
// An adapter's tests call Run with a function that opens a store; benchmarks call Bench.
// The suite never assumes an empty log: every test writes to streams under a random
// prefix of its own and reads the global log from the head it found when it started, so
// it can run against a shared, long-lived server (a real EventStoreDB) as well as against
// a fresh database.
package storetest
