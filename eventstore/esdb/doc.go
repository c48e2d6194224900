// Package esdb implements the eventstore port on EventStoreDB, through the official Go
// client (github.com/EventStore/EventStore-Client-Go/v4). Every use of the client lives in
// this package, so that moving to its successor (KurrentDB-Client-Go) stays local.
//
// Mapping: port version v is EventStoreDB revision v-1 (Exact(0) is NoStream); a position
// is MakePosition(commit, prepare). ReadAll and Subscribe skip system events (a stream or
// event type starting with '$'), including the '$streamDeleted' tombstones EventStoreDB
// writes into the deleted stream itself. Subscribe uses a server-side $all filter (stream
// prefixes, else event-type prefixes, else an event-type regex excluding '$' types) so
// that the server sends checkpoints through stretches of filtered-out events; the rest of
// the port Filter is applied client-side.
//
// Errors wrap the port's sentinels: wrong expected version (*eventstore.WrongVersionError,
// with the actual version parsed from the server's answer), ErrStreamDeleted,
// ErrStreamNotFound, ErrEventTooLarge, ErrInvalid, and ErrUnavailable for a node that
// cannot be reached, times out or fails; an ended context gives an error wrapping
// ctx.Err().
//
// The client has traps the Store guards against: its connection loop exits for good when
// discovery fails (the Store then replaces the client), some of its calls block without a
// context and some of its code paths panic (every call runs on a goroutine of its own that
// recovers, and the caller's context is honoured).
package esdb
