// Package relay carries the final outcome of every ticket (approved, rejected, withdrawn)
// to the business system that owns it, as a signed webhook, and keeps the record of every
// attempt.
//
// # Parts
//
//   - Store: the relay's PostgreSQL tables (embedded tern migrations, version table
//     relay_schema_version) and the operator's interface: endpoints, secret rotation,
//     deliveries and attempts per endpoint or ticket, redelivery.
//   - Relay: follows the event log (the ticket- streams) from its own checkpoint and
//     publishes one outcome message per outcome on a Watermill Transport, in the
//     transaction that moves the checkpoint; it keeps the recent ticket streams it
//     followed, within a budget, for the outcomes' payloads. Relay.WaitFor tells a
//     reader when every outcome and execution report up to a log position is recorded,
//     for reads of deliveries that must see their own writes.
//   - Transport: SQLTransport (Watermill's SQL pub/sub on the same PostgreSQL; the
//     default) or NATSTransport (JetStream, for scale-out).
//   - Dispatcher: consumes the transport, fans each outcome out to the endpoints that want
//     it, and POSTs the deliveries with retries.
//
// Subpackages: webhook signs and verifies Standard Webhooks requests; egress keeps
// requests away from internal addresses.
//
// # Storage
//
// Endpoints, secrets, deliveries and attempts are rows in tables the relay owns, not
// events. They are operational configuration and bookkeeping, not business facts: a
// rotated secret must be erasable, an attempt log grows by the thousand and is queried by
// endpoint, ticket and state, and the dispatcher's queue needs row locks (FOR UPDATE SKIP
// LOCKED) and indexes on the next attempt time. What is a business fact — the outcome,
// and the business system's execution report — is an event on the ticket's stream; the
// relay links the report to its delivery.
//
// # Messages
//
// One message per outcome travels on the topic (DefaultTopic); the dispatcher fans it out
// to endpoints, so registering or disabling an endpoint never touches the log or the
// transport. A message's UUID is the outcome event's id; its metadata names the ticket,
// system, process, outcome, log position and decision time (Meta* keys), and the
// installation that published it (Store.Installation, made with the relay's tables): a
// dispatcher hands another installation's messages back unrecorded, for two databases
// that share a NATS stream by mistake; its payload is the webhook body, a Payload in JSON
// (schema PayloadSchema), identical for every endpoint and attempt:
//
//	{"type": "ticket.approved", "timestamp": "...", "schema_version": 1,
//	 "data": {"outcome": "approved", "ticket_id": "...", "system": "shop",
//	          "process_key": "refund", "process_version": 3, "business_key": "SO-42",
//	          "fields": {...}, "decided_at": "...", "decided_by": "fang",
//	          "trail": [{"at": "...", "node": "finance", "decision": "approved",
//	                     "by": "li", "on_behalf_of": "fang"}, ...],
//	          "chain_head": "<sha-256 hex>", "stream_version": 9,
//	          "event_id": "...", "position": "812/4410"}}
//
// # Delivery
//
// Every delivery of an outcome to an endpoint has a stable id, WebhookID(ticket, outcome
// event, endpoint), sent as webhook-id on every attempt, so receivers deduplicate:
// delivery is at least once. The request carries webhook-timestamp (the attempt's time)
// and webhook-signature with one "v1," HMAC-SHA256 signature per live secret of the
// endpoint (two during a rotation's overlap). Requests time out; redirects are not
// followed; the dialled address is checked against the egress policy.
//
// The dispatcher turns each message into deliveries in one statement before it
// acknowledges the message: with the SQL transport, in the transaction that consumes the
// message's batch, so that the deliveries commit with the consumer group's offset; with
// another transport, as a transaction of its own. A message received twice (after a
// crash, or a batch handed over twice) creates nothing new. Commits announce the
// endpoints concerned with NOTIFY, which wakes their workers; a poll catches retries that
// fall due.
//
// A failed attempt is retried after the next delay of the schedule (DefaultSchedule: 0 s,
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with ±20 % jitter, or later when the receiver
// sends Retry-After; after the last one the delivery is dead (dead-lettered) until an
// operator redelivers it. A 410 Gone disables the endpoint. Each endpoint has its own
// worker, so a slow or dead endpoint delays no other; a ticket's deliveries to an
// endpoint go out in log order.
//
// # Connections
//
// A running Relay holds one connection of the store's pool (its election lock) and uses
// others briefly; the SQL transport's subscriber holds one while it consumes a batch;
// a Dispatcher opens one connection of its own for LISTEN. Give the pool room for these
// besides the command side (pgxpool's default of max(4, CPUs) is too small for ticketd
// running every role).
//
// # Execution reports
//
// The business system reports how it executed the outcome through the command side
// (commands.Service.ReportExecution), which appends ticket.execution-reported to the
// ticket. A report whose causation id is the webhook-id it answers is linked to that
// delivery; Store.Outcomes shows the latest report next to the outcome.
package relay
