// Package ticket is the ticket decider: what may happen to an approval ticket and what it
// becomes. A ticket is submitted by a business system (or a user) under a pinned process
// version, travels through the nodes its route planned, and ends in exactly one final
// outcome — approved, rejected or withdrawn — after which nothing is decided any more but
// the business system's report of how it executed the outcome.
//
// Decide(state, command) returns the events a command produces or a *domain.Error saying
// why it is refused; Evolve(state, event) folds an event into the state. Both are pure: the
// time, the ticket id, the acting principal with their delegation grants, and the pinned
// definition all arrive inside the command. Events have stable type names (Type*) mapped
// to their structs in Encode and Decode, and are a public contract: fields are added,
// never renamed.
package ticket
