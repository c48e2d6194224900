// Command ticketctl is the ticketledger admin CLI.
//
// Most commands talk to a running ticketd over its HTTP API with a bearer token:
//
//	ticketctl process validate FILE            check a definition (YAML or JSON) without publishing it
//	ticketctl process apply FILE               publish it as its process's next version
//	ticketctl process simulate FILE --fields JSON --submitter ID
//	                                           which nodes apply, who handles each, what each sees
//	ticketctl process simulate --process KEY --fields JSON --submitter ID
//	                                           the same for a published process
//	ticketctl process list                     every published process
//	ticketctl principal create ID --kind user|service [--system S] [--role R]... [--group G]...
//	ticketctl principal list
//	ticketctl principal grant-role ID ROLE
//	ticketctl principal revoke-role ID ROLE
//	ticketctl token issue PRINCIPAL [--label L] [--expires 720h|RFC3339]
//	                                           prints the secret, shown this once, on stdout
//	ticketctl token list PRINCIPAL             its tokens: ids, states, issue and expiry
//	ticketctl token revoke PRINCIPAL TOKEN_ID
//	ticketctl projection status                each read model's checkpoint, health and lag
//	ticketctl webhook register --system S --url U [--process P]... [--outcome O]...
//	                                           register a business system's webhook endpoint;
//	                                           prints its signing secret, shown this once
//	ticketctl webhook list [--system S]        the endpoints
//	ticketctl webhook show ID                  an endpoint and its secrets' lifetimes
//	ticketctl webhook enable|disable ID        resume or pause an endpoint's deliveries
//	ticketctl webhook delete ID                stop an endpoint for good
//	ticketctl webhook rotate ID [--overlap 24h]
//	                                           a new secret (printed once); the old one keeps
//	                                           signing during the overlap
//	ticketctl webhook deliveries ID [--state pending|delivered|dead]
//	                                           an endpoint's deliveries, newest first
//	ticketctl webhook attempts --ticket T      a ticket's outcome, execution report,
//	                                           deliveries and every attempt
//	ticketctl webhook redeliver DELIVERY_ID    send one delivery again (same webhook-id)
//	ticketctl webhook redeliver-dead ENDPOINT_ID
//	                                           send every dead-lettered delivery again
//
// Others work on the stores directly, as ticketd does, and need no server:
//
//	ticketctl projection rebuild NAME          rebuild a read model into fresh tables and swap
//	                                           them in, with a progress bar on stderr
//	ticketctl audit verify TICKET_ID           verify the hash chain of one ticket's stream
//	ticketctl audit verify --all               verify every ticket stream of the log as it
//	                                           stands when the command starts, with a
//	                                           progress bar and a summary
//	ticketctl audit export TICKET_ID [-o FILE] the ticket's history as JSON lines, one event a
//	                                           line: type, version, position, data, metadata,
//	                                           verified
//
// Flags shared by every command, each with its environment variable, may come before or
// after the command:
//
//	--server          TICKETLEDGER_SERVER  ticketd's base URL (default http://127.0.0.1:8080)
//	--token           TICKETLEDGER_TOKEN   bearer token (ticketd prints the first admin's
//	                                       token once, on its first start)
//	--database-url    DATABASE_URL         PostgreSQL of the read models, and of the event
//	                                       store unless --eventstore-url is set (default
//	                                       ticketd's: postgres://postgres@127.0.0.1:5432/ticketledger)
//	--eventstore-url  EVENTSTORE_URL       EventStoreDB connection string (esdb://...)
//	--timeout                              bound on each HTTP request (default 30s)
//	--json                                 print the server's JSON instead of text
//
// Errors go to stderr; a problem reported by the server is printed as
// "status title: detail" followed by the offending field paths. The exit status is 0 on
// success, 1 on a failure (including an invalid definition and a broken hash chain) and
// 2 for a command line that cannot be run.
package main
