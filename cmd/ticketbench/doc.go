// Command ticketbench is ticketledger's load generator. It drives tickets through a
// three-node approval process over ticketd's HTTP API and, in the same run, measures the
// raw single-row INSERT rate of the same PostgreSQL as a baseline.
//
// Usage:
//
//	ticketbench [--tickets 1000] [--concurrency 64] [--duration 5m] [--server URL] [--token TOKEN]
//
// With an admin's token, ticketbench publishes its own process ("ticketbench": three
// nodes, one approver each), creates the approvers and a service principal for the
// submitting system, and issues them tokens that expire after a day (revoked when the run
// ends). Then --concurrency clients each take the next ticket, submit it as the system and
// approve it at each of the three nodes as that node's approver, until --tickets tickets
// are done or --duration has passed. Progress goes to stderr every second. Against a
// plain http:// server each client sends its commands on a keep-alive connection of its
// own, written and read in the client's goroutine, so that the load generator, which
// shares the machine with ticketd and PostgreSQL, takes as little CPU as it can (about a
// third less than through net/http's client) and adds no hand-over between goroutines to
// the latencies it measures; https goes through net/http. Those connections are opened
// before the load's clock starts, as the baseline's are before its own: a command's
// latency does not include setting up a TCP connection.
//
// A sample of the commands (every --lag-every'th) is followed by a read of the ticket with
// min_position set to the command's position: the projection lag is the time from the
// command's response to that read's answer. Once the load ends, ticketbench waits for the
// read models to catch up (and says how long after the last command each did, reading
// their status every 50 ms), then runs --baseline-time of single-row INSERT transactions
// (a 200-byte row into a table of its own, dropped afterwards) at the same concurrency on
// --database-url. It prints, on stdout: tickets and commands per second, p50, p90 and p99
// latency per command kind (submit, approve), the same percentiles of ticketd's own time
// for those commands (the "app" duration of their Server-Timing headers: from the
// request's arrival to the answer's start; the rest of a latency is the network, both
// sides' waits for a CPU and the answer's transfer), the same percentiles of the part of
// it spent appending to the event store (Server-Timing "store": the append's round trip
// and, under load, its wait for a group commit), the projection lag's percentiles, how many
// answers ticketd held back for a read model past its --read-lag-bound during the load and
// for how long on average (from its /metrics, read before and after), the baseline's
// transactions per second, the ratio of the two, and the targets (at
// least 2,500 commands/s at 64 clients, p99 at most 50 ms, projection lag p99 at most
// 200 ms) met or missed.
//
// Flags, with their environment variables:
//
//	--server URL          TICKETLEDGER_SERVER  ticketd's base URL (default http://127.0.0.1:8080);
//	                                           ticketbench sends requests to no other host
//	--token TOKEN         TICKETLEDGER_TOKEN   an admin's bearer token
//	--database-url URL    DATABASE_URL         PostgreSQL of the baseline (default ticketd's:
//	                                           postgres://postgres@127.0.0.1:5432/ticketledger)
//	--tickets N                                tickets to drive (default 1000)
//	--concurrency C                            concurrent clients (default 64)
//	--duration D                               cap on the load phase (default 5m)
//	--lag-every N                              probe the lag after every N-th command (default 10; 0: never)
//	--baseline-time D                          length of the INSERT baseline (default 10s; 0: skip it)
//	--timeout D                                bound on each HTTP request (default 30s)
//	--progress D                               interval of the progress lines (default 1s)
//	--latencies FILE                           write every command's start, kind, latency,
//	                                           server time, read-model wait and event-store
//	                                           time (milliseconds) to FILE as CSV
//
// The exit status is 0 when every command succeeded, 1 on a failure (any command failed,
// or setup or the baseline could not run) and 2 for a command line that cannot be run.
package main
