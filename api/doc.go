// Package api is ticketledger's HTTP interface: a chi router under /v1 described by one
// OpenAPI 3.1 document (openapi.yaml, served at /openapi.json), which is the contract:
// every route is an operation of the document, and every request is validated against its
// operation (parameters, content type, body schema) before a handler sees it.
//
// Handlers decode, call the command service or a read model, and encode; they decide
// nothing. Callers authenticate with a bearer token (commands.PrincipalIndex); a delegate
// names the principal they act for in X-On-Behalf-Of; an Idempotency-Key header makes a
// command's id deterministic (UUIDv5 of caller and key), so a retry never doubles an
// event; the key stands for the request it first came with, and another request with it
// is refused (422 idempotency-key-reused). Every command response carries the log position of its events, and every query
// accepts min_position and waits, bounded, until its read model has passed it.
//
// Every error is an RFC 9457 problem+json document (see problemOf, the one place where
// errors become HTTP statuses) with a stable type per error code and, for validation
// failures, each offending field's path. Bodies are limited in size; a panic in a handler
// is answered with a 500 problem and logged once.
//
// The webhook operations (/v1/webhooks, /v1/deliveries, /v1/tickets/{id}/deliveries,
// webhooks.go) serve the outcome relay's store (Config.Webhooks): endpoints, deliveries with
// their attempts, redelivery. They are operational records, not events; without the relay
// they answer 503 (problem code relay-off). X-Causation-Id sets a command's causation id:
// a business system reporting an execution names the webhook-id it answers.
//
// A Server is safe for concurrent use.
package api
