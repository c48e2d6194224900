package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/ticket/tickettest"
	"github.com/ticketledger/ticketledger/eventstore"
)

// slowAppends is an event store whose appends take at least delay longer.
type slowAppends struct {
	eventstore.Store
	delay time.Duration
}

func (s slowAppends) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	time.Sleep(s.delay)
	return s.Store.Append(ctx, stream, expected, events...)
}

// TestAppendTiming: a command run with an AppendTiming adds its appends' time to it; a
// retried command that appends nothing adds nothing; a context without one changes
// nothing.
func TestAppendTiming(t *testing.T) {
	const delay = 30 * time.Millisecond
	store := slowAppends{Store: storeKinds[0].open(t), delay: delay}
	svc := commands.New(store, tickettest.Definitions{twoStep})
	id := submit(t, svc, uniqueKey("order-timing")).State.ID

	ctx, timing := commands.WithAppendTiming(context.Background())
	if timing.Total() != 0 {
		t.Fatalf("a new AppendTiming holds %v", timing.Total())
	}
	req := user("ann")
	if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: req, TicketID: id}); err != nil {
		t.Fatal(err)
	}
	approved := timing.Total()
	if approved < delay {
		t.Fatalf("an approval that appended took %v in the store, want at least %v", approved, delay)
	}
	again, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: req, TicketID: id})
	if err != nil || !again.Replayed {
		t.Fatalf("the retried approval: %+v, %v", again, err)
	}
	if got := timing.Total(); got != approved {
		t.Fatalf("a retry that appended nothing moved the store's time from %v to %v", approved, got)
	}
	if _, err := svc.CommentTicket(context.Background(), commands.CommentTicket{Request: user("wang"), TicketID: id, Text: "noted"}); err != nil {
		t.Fatalf("a command without an AppendTiming: %v", err)
	}
	if got := timing.Total(); got != approved {
		t.Fatalf("another context's command moved the store's time from %v to %v", approved, got)
	}
}
