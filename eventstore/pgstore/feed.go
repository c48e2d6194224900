package pgstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// feedWindow is the least number of the most recent rows the feed keeps for the
// subscriptions that read from it; it keeps up to twice as many.
const feedWindow = 4096

// feed is the tail of the log shared by the live subscriptions of a Store. One reader
// follows the log, as a subscription without a filter would, and keeps the most recent
// rows it read; a subscription whose cursor lies within that window takes its next rows
// from there, filtering them itself, instead of querying the database. Without it every
// subscription reads every new row of the log, and reads again the rows a running
// transaction still hides, so that the database does the same work once per subscription.
//
// The window holds every row of the log after start up to end, in log order, each below
// the visibility horizon: start is itself a position no row can later be committed
// before (the feed begins at the last visible row and moves only over visible rows), so a
// subscription at a cursor in [start, end] misses nothing by reading the window.
//
// The reader runs while some subscription is registered, and stops otherwise.
type feed struct {
	s *Store

	mu      sync.Mutex
	users   int                 // guarded by mu: registered subscriptions
	running bool                // guarded by mu: whether the reader runs
	ready   bool                // guarded by mu: whether start and end are set
	failed  bool                // guarded by mu: the reader's last read failed
	start   eventstore.Position // guarded by mu
	end     eventstore.Position // guarded by mu
	rows    []logRow            // guarded by mu: the rows after start up to end
	changed chan struct{}       // guarded by mu: closed and replaced when the window changes
	wake    chan struct{}       // the reader's wake-up from the Store's hub, while it runs
}

func newFeed(s *Store) *feed {
	return &feed{s: s, changed: make(chan struct{})}
}

// join registers a subscription and starts the reader if it does not run.
func (f *feed) join() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users++
	if f.running {
		return
	}
	wake := f.s.hub.add()
	if !f.s.goBackground(func() { f.run(wake) }) {
		f.s.hub.remove(wake)
		return
	}
	f.running, f.wake = true, wake
}

// leave unregisters a subscription; the reader stops when none is left.
func (f *feed) leave() {
	f.mu.Lock()
	f.users--
	f.mu.Unlock()
}

// after appends to buf the window's rows after cursor, at most limit of them, and returns
// them with ok set when cursor lies within the window. changed is closed at the next
// change of the window, for a caller that got no rows to wait on.
func (f *feed) after(cursor eventstore.Position, limit int, buf []logRow) (rows []logRow, changed <-chan struct{}, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ready || f.failed || cursor.Compare(f.start) < 0 || cursor.Compare(f.end) > 0 {
		return buf, f.changed, false
	}
	i, _ := slices.BinarySearchFunc(f.rows, cursor, func(r logRow, c eventstore.Position) int {
		return r.event.Position.Compare(c)
	})
	if i < len(f.rows) && f.rows[i].event.Position == cursor {
		i++
	}
	n := min(len(f.rows)-i, limit)
	return append(buf, f.rows[i:i+n]...), f.changed, true
}

// notifyLocked wakes the subscriptions waiting for the window to change.
func (f *feed) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// stopIfIdle ends the reader when no subscription is registered, reporting whether it did.
func (f *feed) stopIfIdle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users > 0 && f.s.ctx.Err() == nil {
		return false
	}
	f.s.hub.remove(f.wake)
	f.running, f.ready, f.failed, f.rows, f.wake = false, false, false, nil, nil
	f.notifyLocked()
	return true
}

// fail marks the window unusable until the next successful read, so that subscriptions
// read the database themselves and meet the failure there.
func (f *feed) fail() {
	f.mu.Lock()
	f.failed = true
	f.notifyLocked()
	f.mu.Unlock()
}

const visibleHeadSQL = `SELECT transaction_id::text, position FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, position DESC LIMIT 1`

// run is the reader: it reads the log after end, appends the visible rows to the window,
// and waits for a wake-up, the poll interval, or, while committed rows are hidden, a
// short backoff.
func (f *feed) run(wake chan struct{}) {
	s := f.s
	ctx := s.ctx
	var (
		buf      []logRow
		retry    = visibilityRetryMin
		failWait = visibilityRetryMin
		timer    = time.NewTimer(0)
	)
	defer timer.Stop()
	<-timer.C
	for !f.stopIfIdle() {
		hidden, err := f.step(ctx, &buf)
		wait := s.cfg.PollInterval
		if err != nil {
			// Subscriptions meet the failure reading the database themselves; the
			// reader tries again, backing off up to the poll interval.
			f.fail()
			wait = min(failWait, wait)
			failWait = min(2*failWait, s.cfg.PollInterval)
		} else {
			failWait = visibilityRetryMin
			if hidden {
				wait = min(retry, wait)
				retry = min(2*retry, hiddenRetryMax)
			} else {
				retry = visibilityRetryMin
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

// step places the window at the last visible row if it is not placed, then reads the log
// after end until a read returns less than a full batch of visible rows, and reports
// whether that read met committed rows the horizon still hides.
func (f *feed) step(ctx context.Context, buf *[]logRow) (hidden bool, err error) {
	s := f.s
	f.mu.Lock()
	ready, end := f.ready, f.end
	f.mu.Unlock()
	if !ready {
		start := eventstore.Start
		var xid string
		var pos int64
		err := s.pool.QueryRow(ctx, visibleHeadSQL).Scan(&xid, &pos)
		switch {
		case isNoRows(err):
		case err != nil:
			return false, err
		default:
			if start, err = makePosition(xid, pos); err != nil {
				return false, err
			}
		}
		f.mu.Lock()
		f.start, f.end, f.rows, f.ready, f.failed = start, start, nil, true, false
		f.notifyLocked()
		f.mu.Unlock()
		end = start
	}
	for {
		rows, err := s.readLog(ctx, eventstore.Forwards, end, s.cfg.BatchSize, eventstore.Filter{}, (*buf)[:0])
		*buf = rows
		if err != nil {
			return false, err
		}
		visible := 0
		for visible < len(rows) && rows[visible].visible {
			visible++
		}
		f.mu.Lock()
		if visible > 0 {
			f.rows = append(f.rows, rows[:visible]...)
			f.end = rows[visible-1].event.Position
			end = f.end
			if len(f.rows) >= 2*feedWindow {
				drop := len(f.rows) - feedWindow
				f.start = f.rows[drop-1].event.Position
				f.rows = append(make([]logRow, 0, 2*feedWindow), f.rows[drop:]...)
			}
		}
		changed := visible > 0 || f.failed
		f.failed = false
		if changed {
			f.notifyLocked()
		}
		f.mu.Unlock()
		if visible < s.cfg.BatchSize {
			return visible < len(rows), nil
		}
	}
}
