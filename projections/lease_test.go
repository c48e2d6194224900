package projections_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/projections"
)

// subscribeCounter is a store that counts the subscriptions opened on it.
type subscribeCounter struct {
	eventstore.Store
	n atomic.Int64
}

func (s *subscribeCounter) Subscribe(ctx context.Context, from eventstore.Position, f eventstore.Filter) (eventstore.Subscription, error) {
	s.n.Add(1)
	return s.Store.Subscribe(ctx, from, f)
}

// process is a runner on its own store, as another process would run it.
type process struct {
	runner *projections.Runner
	store  *subscribeCounter
	stop   func()
}

func startProcess(t *testing.T, e *env, cfg projections.Config) *process {
	t.Helper()
	p := &process{store: &subscribeCounter{Store: e.store}}
	r, err := projections.NewRunner(e.pool, p.store, cfg, e.standard()...)
	if err != nil {
		t.Fatal(err)
	}
	p.runner = r
	if err := r.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	return p
}

// roles returns how many projections p runs actively and how many it stands by for.
func (p *process) roles(t *testing.T) (active, standby int) {
	t.Helper()
	sts, err := p.runner.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		switch {
		case st.Active:
			active++
		case st.Running && st.Healthy:
			standby++
		}
	}
	return active, standby
}

// activeAndStandby starts two processes polling every 50 ms on e, the first active for
// all of e's projections and the second standing by for them, and returns all, their number.
func activeAndStandby(t *testing.T, e *env) (a, b *process, all int) {
	t.Helper()
	cfg := e.config()
	cfg.StandbyPoll = 50 * time.Millisecond
	all = len(e.standard())
	a = startProcess(t, e, cfg)
	eventually(t, "the first process to be active", func() bool { n, _ := a.roles(t); return n == all })
	b = startProcess(t, e, cfg)
	eventually(t, "the second process to stand by", func() bool { _, n := b.roles(t); return n == all })
	return a, b, all
}

func TestOneActiveRunnerPerProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, b, all := activeAndStandby(t, e)
	grantDelegations(t, e)
	ids := drive(t, e, 12, 31)
	head := e.head()
	for _, p := range []*process{a, b} {
		for _, name := range []string{projections.TicketsName, projections.DelegationsName, journalName} {
			if err := p.runner.WaitFor(ctx, name, head, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := b.store.n.Load(); n != 0 {
		t.Fatalf("the process standing by opened %d subscriptions", n)
	}
	if active, standby := b.roles(t); active != 0 || standby != all {
		t.Fatalf("the second process is active for %d projections and stands by for %d", active, standby)
	}
	checkAgainstLog(t, e, ids)

	// The first process's lock connection drops: the second takes over, the first stands by.
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	more, err := driveKeys(e, "more", 8, 32)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, more...)
	eventually(t, "the second process to take over", func() bool { n, _ := b.roles(t); return n == all })
	eventually(t, "the first process to stand by", func() bool { _, n := a.roles(t); return n == all })
	e.runner = b.runner
	e.sync(projections.TicketsName, projections.DelegationsName, journalName)
	checkAgainstLog(t, e, ids)

	// The second process stops: the first takes over again.
	b.stop()
	eventually(t, "the first process to take over again", func() bool { n, _ := a.roles(t); return n == all })
	more, err = driveKeys(e, "last", 8, 33)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, more...)
	e.runner = a.runner
	e.sync(projections.TicketsName, projections.DelegationsName, journalName)
	checkAgainstLog(t, e, ids)

	// Every event was applied once.
	evs, err := e.store.ReadAll(ctx, eventstore.ReadAllOptions{Count: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ticketEvents := 0
	for _, ev := range evs {
		if projections.NewTickets(nil).Filter().Match(ev.Stream, ev.Type) {
			ticketEvents++
		}
	}
	if st := e.status(projections.TicketsName); st.EventsApplied != int64(ticketEvents) || !st.Active || !st.Healthy {
		t.Fatalf("tickets: %+v; the log holds %d ticket events", st, ticketEvents)
	}
}

func TestLockConnectionLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.config()
	cfg.StandbyPoll = 50 * time.Millisecond
	all := len(e.standard())
	a := startProcess(t, e, cfg)
	e.runner = a.runner
	eventually(t, "the process to be active", func() bool { n, _ := a.roles(t); return n == all })
	first := e.submit("order-1", "50.00", "original")
	e.sync(projections.TicketsName)

	// The lock connection drops and cannot come back: the process stands by and says so.
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := pgx.Identifier{e.pool.Config().ConnConfig.Database}.Sanitize()
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `ALTER DATABASE `+db+` ALLOW_CONNECTIONS true`) })
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'ticketledger projection locks'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the process to stand by", func() bool {
		st := e.status(projections.TicketsName)
		return st.Running && !st.Active && !st.Healthy && strings.Contains(st.Err, "projection locks")
	})
	second := e.submit("order-2", "50.00", "original")
	if err := a.runner.WaitFor(ctx, projections.TicketsName, second.Position, 200*time.Millisecond); !errors.Is(err, projections.ErrWaitTimeout) {
		t.Fatalf("waiting while nobody projects: %v", err)
	}

	if _, err := admin.Exec(ctx, `ALTER DATABASE `+db+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the process to be active again", func() bool { n, _ := a.roles(t); return n == all })
	e.sync(projections.TicketsName, journalName)
	checkAgainstLog(t, e, []string{first.State.ID, second.State.ID})
	if st := e.status(projections.TicketsName); !st.Healthy || !st.Active {
		t.Fatalf("after the lock connection came back: %+v", st)
	}
}

// TestFrozenHolderLosesItsLocks: a process that freezes keeps its connections open, and
// its kernel answers TCP keepalives; its lock connection goes quiet, PostgreSQL ends the
// idle session, and the process standing by takes over. Thawed, the first process finds
// its locks gone and stands by; every event is applied once.
func TestFrozenHolderLosesItsLocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, all := activeAndStandby(t, e)
	grantDelegations(t, e)
	ids := drive(t, e, 6, 41)

	thaw := projections.FreezeLocks(a.runner)
	t.Cleanup(thaw) // a failure below must not leave the first process frozen at its stop
	eventually(t, "the second process to take over from the frozen one", func() bool { n, _ := b.roles(t); return n == all })
	more, err := driveKeys(e, "frozen", 6, 42)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, more...)
	thaw()
	eventually(t, "the thawed process to stand by", func() bool { _, n := a.roles(t); return n == all })
	if n, _ := a.roles(t); n != 0 {
		t.Fatalf("the thawed process is active for %d projections", n)
	}
	e.runner = b.runner
	e.sync(projections.TicketsName, projections.DelegationsName, journalName)
	checkAgainstLog(t, e, ids)
}
