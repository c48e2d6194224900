package commands_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/domain/ticket/tickettest"
	"github.com/ticketledger/ticketledger/eventstore"
)

// TestStaleCacheOfAnotherProcess runs two services on one store, as two ticketd processes
// would: each caches what it handled, and a state the other made stale never decides an
// answer.
func TestStaleCacheOfAnotherProcess(t *testing.T) {
	onPGStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		a := commands.New(store, tickettest.Definitions{twoStep}, commands.WithStateCache(commands.DefaultStateCacheSize))
		b := commands.New(store, tickettest.Definitions{twoStep}, commands.WithStateCache(commands.DefaultStateCacheSize))
		id := submit(t, a, uniqueKey("stale")).State.ID

		// b moves the ticket to the boss node; a's cache still holds it at the lead node,
		// where carl is no handler: a must read the stream rather than refuse.
		if _, err := b.ApproveTask(ctx, commands.ApproveTask{Request: user("ann"), TicketID: id}); err != nil {
			t.Fatal(err)
		}
		res, err := a.ApproveTask(ctx, commands.ApproveTask{Request: user("carl"), TicketID: id})
		if err != nil {
			t.Fatalf("carl approves through the process whose cache is stale: %v", err)
		}
		if res.Appended == 0 || res.Replayed {
			t.Fatalf("carl's approval: %+v", res)
		}

		// A command b carried out, retried through a (whose cache is stale again), answers
		// as the first run did and writes nothing.
		first := commands.ApproveTask{Request: user("dora"), TicketID: id}
		done, err := b.ApproveTask(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		retry, err := a.ApproveTask(ctx, first)
		if err != nil || !retry.Replayed || retry.Version != done.Version || retry.Position != done.Position {
			t.Fatalf("the retry through the other process: %+v, %v; first run %+v", retry, err, done)
		}
		// And through b, from its own cache.
		retry, err = b.ApproveTask(ctx, first)
		if err != nil || !retry.Replayed || retry.Version != done.Version || retry.Position != done.Position {
			t.Fatalf("the retry through the same process: %+v, %v; first run %+v", retry, err, done)
		}
		l, err := a.Ticket(ctx, id)
		if err != nil || l.Version != done.Version || l.State.Status != "approved" {
			t.Fatalf("the ticket after all: version %d status %s, %v; want version %d approved", l.Version, l.State.Status, err, done.Version)
		}

		// A real refusal still comes, from the stream as read.
		if _, err := a.ApproveTask(ctx, commands.ApproveTask{Request: user("eve"), TicketID: id}); !domain.Is(err, domain.Conflict) && !domain.Is(err, domain.Forbidden) {
			t.Fatalf("an approval of a closed ticket: %v", err)
		}
	})
}

// TestCachedConcurrentApprovals has both bosses approve at once through one service many
// times: the shared cached state is never corrupted (run with -race), and each ticket ends
// approved with each approval once.
func TestCachedConcurrentApprovals(t *testing.T) {
	onPGStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		svc := commands.New(store, tickettest.Definitions{twoStep}, commands.WithStateCache(8))
		for round := 0; round < 10; round++ {
			id := submit(t, svc, uniqueKey("concurrent")).State.ID
			if _, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: user("bob"), TicketID: id}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for _, who := range []string{"carl", "dora"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := svc.ApproveTask(ctx, commands.ApproveTask{Request: commands.Request{CommandID: uuid.New(), Caller: commands.Caller{ID: who}}, TicketID: id})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			l, err := svc.Ticket(ctx, id)
			if err != nil || l.State.Status != "approved" {
				t.Fatalf("round %d: %s, %v", round, l.State.Status, err)
			}
		}
	})
}

// onPGStore runs fn on pgstore, the store that reports duplicate appends.
func onPGStore(t *testing.T, fn func(t *testing.T, store eventstore.Store)) {
	fn(t, storeKinds[0].open(t))
}

// readCounter counts the stream reads made through it.
type readCounter struct {
	eventstore.Store
	mu    sync.Mutex
	reads int
}

func (r *readCounter) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
	return r.Store.ReadStream(ctx, stream, opts)
}

func (r *readCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// TestSubmitPresumesANewStream: with the cache, a submission starts its stream without
// reading it, and the next command on the ticket finds it cached; where the stream exists
// after all, the answer is the one a read would have given.
func TestSubmitPresumesANewStream(t *testing.T) {
	onPGStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		ra, rb := &readCounter{Store: store}, &readCounter{Store: store}
		a := commands.New(ra, tickettest.Definitions{twoStep}, commands.WithStateCache(commands.DefaultStateCacheSize))
		b := commands.New(rb, tickettest.Definitions{twoStep}, commands.WithStateCache(commands.DefaultStateCacheSize))

		key := uniqueKey("presumed")
		first := commands.SubmitTicket{Request: commands.Request{CommandID: uuid.New(), Caller: shop}, Process: "two-step",
			BusinessKey: key, Submitter: ticket.Submitter{ID: "wang"}, Fields: json.RawMessage(`{"amount":"12.50"}`)}
		res, err := a.SubmitTicket(ctx, first)
		if err != nil || res.Appended != 2 || res.Version != 2 {
			t.Fatalf("submit: %+v, %v", res, err)
		}
		step, err := a.ApproveTask(ctx, commands.ApproveTask{Request: user("bob"), TicketID: res.State.ID})
		if err != nil {
			t.Fatal(err)
		}
		if n := ra.count(); n != 0 {
			t.Fatalf("a submission and an approval through one process read the stream %d times, want 0", n)
		}

		// The same command retried through another process is recognised as a retry.
		retry, err := b.SubmitTicket(ctx, first)
		if err != nil || !retry.Replayed || retry.Version != res.Version || retry.Position != res.Position {
			t.Fatalf("the retry through the other process: %+v, %v; first run %+v", retry, err, res)
		}
		// Another submission of the same business key changes nothing and reports the
		// ticket as it now stands, after bob's approval.
		again := first
		again.CommandID = uuid.New()
		dup, err := b.SubmitTicket(ctx, again)
		if err != nil || dup.Appended != 0 || dup.Version != step.Version || dup.State.ID != res.State.ID {
			t.Fatalf("the same business key submitted again: %+v, %v", dup, err)
		}
		if rb.count() == 0 {
			t.Fatal("the other process answered for an existing stream without reading it")
		}

		// A refusal decided on the presumed initial state is decided again on the stream.
		bad := first
		bad.CommandID, bad.BusinessKey, bad.Submitter = uuid.New(), uniqueKey("refused"), ticket.Submitter{}
		before := ra.count()
		if _, err := a.SubmitTicket(ctx, bad); !domain.Is(err, domain.Invalid) {
			t.Fatalf("a submission without a submitter: %v", err)
		}
		if ra.count() != before+1 {
			t.Fatalf("the refusal read the stream %d times, want once", ra.count()-before)
		}
	})
}
