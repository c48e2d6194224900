// Package domain holds what ticketledger's pure domain packages share: the kinds of error a
// decision can end in, and what text they keep (StorableText). The decisions themselves live in the subpackages: process (process
// definitions), ticket (the ticket decider) and delegation (acting on another's behalf).
// Nothing under domain performs I/O, reads a clock or draws random numbers: time and ids
// arrive inside commands.
package domain
