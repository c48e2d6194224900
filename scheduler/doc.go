// Package scheduler sends SLA reminders (催办 by the clock): when a node's reminder time or
// due time passes while its handlers have not decided, it issues the ticket's Remind
// command, which records a ticket.reminded event that notifications and the workbench pick
// up.
//
// Two parts: Reminders, a projection that keeps the pending reminders of every active node
// in PostgreSQL (folded from the ticket events, so it survives restarts and is rebuilt like
// any read model), and Scheduler, a loop that issues the reminders that fell due. Issuing is
// idempotent: each reminder's command id derives from the ticket, the node activation and
// the kind, and the ticket decider records each reminder once.
package scheduler
