// Package webhook signs and verifies webhook requests as the Standard Webhooks
// specification defines them (https://www.standardwebhooks.com).
//
// A request carries three headers: webhook-id, the message's identifier, the same on
// every retry so that receivers can deduplicate; webhook-timestamp, the Unix time of the
// attempt in seconds; and webhook-signature, a space-separated list of versioned
// signatures "v1,<base64 HMAC-SHA256>" computed over "<id>.<timestamp>.<body>" with the
// endpoint's secret. Secrets are written "whsec_<base64>" and hold 24 to 64 random bytes.
//
// During a secret rotation a sender signs with every live secret, newest first, so that
// a receiver holding either the old or the new secret verifies the request; Verify accepts
// a request when any v1 signature matches any of the secrets it is given.
//
// Everything in this package is safe for concurrent use.
package webhook
