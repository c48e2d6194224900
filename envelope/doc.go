// Package envelope defines the metadata that every ticketledger event carries (actor,
// on-behalf-of, correlation and causation, source system, request id) and the SHA-256
// hash chain that makes each stream's history tamper-evident.
//
// Chained metadata is JSON whose last member is "hash": the hash covers the event type,
// the event data and every byte of the metadata before that member, which includes the
// previous event's hash ("prev"). Both event stores keep data and metadata byte for byte,
// so a chain verifies from the stored bytes alone, whatever fields later versions add.
package envelope
