// Package scheduler sends SLA reminders (催办 by the clock): when a node's reminder time or
// due time passes while its handlers have not decided, or the whole ticket's (its
// process's ticket SLA, as activation 0) while it is open, it issues the ticket's Remind
// command, which records a ticket.reminded event that notifications and the workbench pick
// up. A scheduler that comes round only after the due time sends the overdue reminder
// alone.
//
// Two parts: Reminders, a projection that keeps the pending reminders of every active node
// and open ticket in PostgreSQL (folded from the ticket events, so it survives restarts and is rebuilt like
// any read model), and Scheduler, a loop that issues the reminders that fell due. Issuing is
// idempotent: each reminder's command id derives from the ticket, the node activation and
// the kind, and the ticket decider records each reminder once.
package scheduler
