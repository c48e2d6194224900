// Package ticketdtest starts ticketd's stack in-process for the tests of the command-line
// tools: the event store (pgstore on a fresh pgtest database, or EventStoreDB over the
// protocol double), the principal index, the command service, the read models with their
// projector and the HTTP API, wired as cmd/ticketd wires them, behind an httptest server.
// It is internal, beside pgtest, since it imports the EventStoreDB protocol double and
// may import nothing of package main; the tools' tests are its only users.
package ticketdtest
