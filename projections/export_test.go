package projections

import (
	"errors"
	"strings"
	"sync"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// FoldedShare returns how many ticket streams start in events (fresh) and how many of
// those the fold of a batch writes without the statements (folded).
func FoldedShare(events []eventstore.RecordedEvent) (folded, fresh int, err error) {
	streams := map[string][]*eventstore.RecordedEvent{}
	var order []string
	for i := range events {
		id, ok := strings.CutPrefix(events[i].Stream, ticket.Stream(""))
		if !ok {
			continue
		}
		if _, seen := streams[id]; !seen {
			order = append(order, id)
		}
		streams[id] = append(streams[id], &events[i])
	}
	for _, id := range order {
		if streams[id][0].Version != 1 {
			continue
		}
		fresh++
		_, err := foldTicket(id, streams[id])
		switch {
		case err == nil:
			folded++
		case !errors.Is(err, errDecline):
			return folded, fresh, err
		}
	}
	return folded, fresh, nil
}

// FreezeLocks stops r's lock connection from querying, as if the process were frozen,
// until the returned thaw is called. r must be running.
func FreezeLocks(r *Runner) (thaw func()) {
	r.mu.Lock()
	l := r.lease
	r.mu.Unlock()
	l.pause.Lock()
	var once sync.Once
	return func() { once.Do(l.pause.Unlock) }
}

// LiveWrites returns how many live batches of the projection named name were written in
// one round trip and how many the slow way, and how many of those were sent in one round
// trip first and failed there.
func LiveWrites(r *Runner, name string) (atOnce, slowly, refused int64) {
	w := r.workers[name]
	return w.atOnce.Load(), w.slowly.Load(), w.refused.Load()
}

// HandlersSQL is the query of a ticket's handlers ($1 ticket, $2 instant).
var HandlersSQL = handlersSQL
