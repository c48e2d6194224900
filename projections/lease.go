package projections

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Several processes may run a Runner of the same projections on one database; one of
// them is active per projection, the others stand by. A running Runner holds a
// connection of its own, outside the pool, on which it takes PostgreSQL session advisory
// locks, one per projection, keyed (lockNamespace, hash of the name): the two-key form,
// a lock space apart from the one-key form that tern's migration lock and the relays'
// election locks use. The holder of a projection's lock follows the log with it; the
// others try to take the lock every Config.StandbyPoll. The holder checks its connection
// as often, and stands by as soon as the connection fails. PostgreSQL ends a session whose
// client is gone, and with it the session's locks: at once when the process exits or its
// connection is closed, so that a standby takes over within StandbyPoll; after the TCP
// keepalive probes the lock connection asks for (about 25 seconds) when the network
// between them fails. A process that freezes (stopped, paused, its machine suspended)
// keeps its connections open, and its kernel answers the keepalive probes: the lock
// connection queries every poll, and asks PostgreSQL to end its session when it has been
// idle for lockIdleTimeout, so that a standby takes over then; a live batch's transaction
// likewise ends after a minute idle (liveBeginSQL). The checkpoint row lock stays the
// safety net: a holder that has lost its lock and not yet noticed cannot write a batch
// twice.

// lockNamespace is the first key of the projections' advisory locks.
var lockNamespace = func() int32 {
	h := fnv.New32a()
	h.Write([]byte("ticketledger/projections"))
	return int32(h.Sum32())
}()

// lockKeys returns the advisory lock keys of the projection named name.
func lockKeys(name string) (int32, int32) {
	h := fnv.New32a()
	h.Write([]byte(name))
	return lockNamespace, int32(h.Sum32())
}

// lockApplicationName names the lock connection in pg_stat_activity.
const lockApplicationName = "ticketledger projection locks"

// lockIdleTimeout is how long the lock connection of a process that polls every poll may
// stay idle before PostgreSQL ends its session: ten polls, and no less than 3 seconds.
func lockIdleTimeout(poll time.Duration) time.Duration { return max(10*poll, 3*time.Second) }

// lease holds the advisory locks of a running Runner.
type lease struct {
	cfg  *pgx.ConnConfig
	poll time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	err     error                    // guarded by mu: why the lock connection fails, nil while it serves
	waiting map[string]chan struct{} // guarded by mu: closed once the lock is taken
	held    map[string]chan struct{} // guarded by mu: closed when the lock is lost
	release map[string]bool          // guarded by mu: locks to give back
	wake    chan struct{}
	// pause is held by tests that freeze the lock connection's loop, as a stopped
	// process would be frozen.
	pause sync.Mutex
}

func newLease(cfg *pgx.ConnConfig, poll time.Duration, log *slog.Logger) *lease {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = lockApplicationName
	// Let the server notice a client lost to the network, and end its session.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "10"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "5"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	return &lease{cfg: cfg, poll: poll, log: log, waiting: map[string]chan struct{}{}, held: map[string]chan struct{}{},
		release: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// acquire waits until this process holds the lock of the projection named name and
// returns a channel closed when it loses it. It returns ctx.Err() when ctx ends first.
func (l *lease) acquire(ctx context.Context, name string) (<-chan struct{}, error) {
	l.mu.Lock()
	if lost, ok := l.held[name]; ok {
		// Still held: keep it.
		delete(l.release, name)
		l.mu.Unlock()
		return lost, nil
	}
	taken, ok := l.waiting[name]
	if !ok {
		taken = make(chan struct{})
		l.waiting[name] = taken
	}
	l.mu.Unlock()
	l.poke()
	select {
	case <-taken:
		l.mu.Lock()
		defer l.mu.Unlock()
		if lost, ok := l.held[name]; ok {
			return lost, nil
		}
		// Lost again before this wait returned.
		lost := make(chan struct{})
		close(lost)
		return lost, nil
	case <-ctx.Done():
		l.mu.Lock()
		if l.waiting[name] == taken {
			delete(l.waiting, name)
		}
		l.mu.Unlock()
		return nil, ctx.Err()
	}
}

// giveBack releases the lock of the projection named name, if held, for another process
// to take.
func (l *lease) giveBack(name string) {
	l.mu.Lock()
	if _, ok := l.held[name]; ok {
		l.release[name] = true
	}
	l.mu.Unlock()
	l.poke()
}

func (l *lease) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run keeps the lock connection until ctx ends, taking the locks waited for, giving back
// those released and checking those held; closing the connection at the end releases
// every lock.
func (l *lease) run(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
		l.lost()
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	// After losing the connection, no round before resume, wakes included (see below).
	var resume time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-l.wake:
			if time.Now().Before(resume) {
				continue // the timer, still set, ends the pause
			}
		}
		// Waits here while a test freezes the loop.
		l.pause.Lock()
		l.pause.Unlock() //lint:ignore SA2001 the empty section is the point: it waits for a test's freeze to end
		if conn == nil {
			c, err := l.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !failing {
					l.log.Warn("projection locks: cannot connect; retrying", "error", err)
				}
				failing = true
				l.failed(fmt.Errorf("projection locks: connect: %w", err))
				timer.Reset(l.poll)
				continue
			}
			conn = c
		}
		if err := l.round(ctx, conn); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				l.log.Warn("projection locks: the lock connection failed; standing by", "error", err)
			}
			failing = true
			l.failed(fmt.Errorf("projection locks: %w", err))
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			l.lost()
			// Come back after two polls rather than at once (the workers that lost their
			// locks ask again right away) or after one: the processes standing by, which
			// try every poll, take over first, instead of racing this one for each lock
			// and splitting the projections between them.
			resume = time.Now().Add(2 * l.poll)
			timer.Reset(2 * l.poll)
			continue
		}
		if failing {
			l.log.Info("projection locks: the lock connection serves again")
		}
		failing = false
		l.failed(nil)
		timer.Reset(l.poll)
	}
}

func (l *lease) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, max(l.poll, 5*time.Second))
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	// idle_session_timeout is PostgreSQL 14's; before it, a frozen holder keeps its locks.
	idle := strconv.FormatInt(lockIdleTimeout(l.poll).Milliseconds(), 10)
	if _, err := conn.Exec(ctx, `SELECT set_config('idle_session_timeout', $1, false)`, idle); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42704" { // undefined_object
			conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		l.log.Warn("projection locks: this PostgreSQL cannot end the idle session of a frozen process (idle_session_timeout needs version 14)")
	}
	return conn, nil
}

// round gives back the locks released, tries to take those waited for, and otherwise
// checks the connection: it queries every round.
func (l *lease) round(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, max(l.poll, time.Second))
	defer cancel()
	l.mu.Lock()
	var release, want []string
	for name := range l.release {
		release = append(release, name)
	}
	for name := range l.waiting {
		want = append(want, name)
	}
	l.mu.Unlock()
	for _, name := range release {
		k1, k2 := lockKeys(name)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
			return fmt.Errorf("release the lock of %s: %w", name, err)
		}
		l.mu.Lock()
		if lost, ok := l.held[name]; ok {
			close(lost)
			delete(l.held, name)
		}
		delete(l.release, name)
		l.mu.Unlock()
	}
	if len(want) == 0 {
		// A query every round, held locks or not: the session must not stay idle for
		// lockIdleTimeout while the process lives.
		if err := conn.Ping(ctx); err != nil {
			return err
		}
	}
	for _, name := range want {
		k1, k2 := lockKeys(name)
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&got); err != nil {
			return fmt.Errorf("take the lock of %s: %w", name, err)
		}
		if !got {
			continue
		}
		l.mu.Lock()
		taken, waiting := l.waiting[name]
		l.held[name] = make(chan struct{})
		if waiting {
			delete(l.waiting, name)
			close(taken)
		} else {
			// Nobody waits any more: give it back at the next round.
			l.release[name] = true
		}
		l.mu.Unlock()
		if !waiting {
			l.poke()
		}
	}
	return nil
}

// failed records why the lock connection fails, nil once it serves again.
func (l *lease) failed(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// failure returns why the lock connection fails, nil while it serves.
func (l *lease) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// lost drops every lock held, as when the connection that held them is gone.
func (l *lease) lost() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, lost := range l.held {
		close(lost)
		delete(l.held, name)
	}
	clear(l.release)
}
