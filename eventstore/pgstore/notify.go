package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// hub wakes the live subscriptions of a Store. A wake is a hint to read the log, never a
// promise that something is there; wakes that arrive while one is pending merge.
type hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (h *hub) add() chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) remove(ch chan struct{}) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

func (h *hub) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// notifyInterval is the shortest time between two NOTIFYs of a Store: the first append
// after a quiet spell is announced at once, the appends that follow within the interval
// together at its end.
const notifyInterval = 10 * time.Millisecond

// announce tells readers that an append committed: the Store's own subscriptions at once,
// other processes through a NOTIFY that the notifier sends after the fact.
//
// The NOTIFY is not part of the append's transaction on purpose: PostgreSQL serialises the
// commits of all notifying transactions of the cluster on one lock held until their commit
// record is flushed, which would forbid group commit and cap concurrent appends at one
// flush each. A separate notifying transaction writes no WAL, so its commit does not wait
// for a flush; sending at most one per notifyInterval keeps its cost off busy writers.
func (s *Store) announce() {
	s.hub.wake()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// runNotifier sends a NOTIFY for the announcements made since the previous one, at most
// one per notifyInterval, until the Store closes. A failed NOTIFY is dropped: readers in
// other processes then find the events by polling.
func (s *Store) runNotifier() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.notify:
		}
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		_, _ = s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, s.id)
		cancel()
		if sleep(s.ctx, notifyInterval) != nil {
			return
		}
	}
}

// startListener starts, once per Store, the goroutine that LISTENs for the appends of
// other processes.
func (s *Store) startListener() {
	s.mu.Lock()
	start := !s.listening
	s.listening = true
	s.mu.Unlock()
	if start {
		s.goBackground(s.runListener)
	}
}

// listenerName is the application_name of the listening connection.
const listenerName = "pgstore-listener"

// Backoff of the listener's reconnection attempts.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// runListener holds a connection that LISTENs on Channel and wakes the subscriptions on
// every notification from another Store. When the connection fails it reconnects with
// exponential backoff; meanwhile subscriptions poll. After each (re)connection it wakes
// them, since notifications may have been missed.
func (s *Store) runListener() {
	retry := listenRetryMin
	for s.ctx.Err() == nil {
		if s.listenOnce() {
			retry = listenRetryMin
		}
		t := time.NewTimer(retry)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		retry = min(2*retry, listenRetryMax)
	}
}

// listenOnce connects, listens until the connection fails or the Store closes, and reports
// whether it got to listen.
func (s *Store) listenOnce() bool {
	cfg := s.connConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = make(map[string]string)
	}
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(s.ctx, cfg)
	if err != nil {
		return false
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(s.ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return false
	}
	s.hub.wake()
	for {
		n, err := conn.WaitForNotification(s.ctx)
		if err != nil {
			return true
		}
		if n.Payload != s.id {
			s.hub.wake()
		}
	}
}
