package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Group commit. Appends that expect an exact version or no stream, the appends of
// commands, are queued; up to Config.AppendGroups goroutines take what is queued and write
// it with one statement, one transaction, one round trip and one commit for all. Under
// load this divides the database's cost of an append by several (its commit, its
// statement, its round trip), and costs nothing otherwise: an append made while no other
// is being written or waiting goes alone, written by its own caller with the statement it
// would have used anyway.
//
// A group never holds two appends to one stream, and two groups being written never share
// a stream; a stream's later append waits for the next group. The group statement writes
// the events of each append whose expected version holds in its snapshot and skips the
// others; every append it did not write, and every append of a group whose statement
// failed (a race with another process on a stream, a deadlock between two processes'
// groups, a cancelled statement), is handed back to its caller, who appends alone as
// before: a conflict, a tombstone or an idempotent retry is told apart there, exactly as
// for any append. A statement that fails writes nothing, and one that committed while its
// answer was lost is recognised as an idempotent retry by the IDs it stored.

// Limits of one group statement, and the number of appends a writer waits for.
const (
	groupMaxAppends = 64
	groupMaxEvents  = 512
	groupFill       = 8
)

// Defaults of Config.AppendGroups and Config.AppendLinger.
const (
	DefaultAppendGroups = 1
	DefaultAppendLinger = time.Millisecond
)

// groupSQL inserts the events $4.. of several appends at the versions $3 given, each into
// its stream $1 if the stream's last event in the statement's snapshot is at the expected
// version $2 (for 0, if the stream has no event) and is not a tombstone. The versions of
// an append's events follow its expected version; the statement's own rows are not in its
// snapshot, so every event of an append sees the same last event.
const groupSQL = `INSERT INTO events (stream, version, event_id, type, data, metadata)
SELECT u.stream, u.version, u.id, u.type, u.data, u.metadata
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::uuid[], $5::text[], $6::bytea[], $7::bytea[])
	WITH ORDINALITY AS u(stream, expected, version, id, type, data, metadata, n)
LEFT JOIN LATERAL (SELECT e.version, e.type FROM events e WHERE e.stream = u.stream ORDER BY e.version DESC LIMIT 1) l ON true
WHERE CASE WHEN u.expected = 0 THEN l.version IS NULL ELSE l.version = u.expected AND l.type <> '` + tombstoneType + `' END
ORDER BY u.n
RETURNING stream, transaction_id::text, position, version`

// queuedAppend is an append waiting in the queue or being written by a group.
type queuedAppend struct {
	stream   string
	expected int64 // 0: no stream
	events   []eventstore.EventData
	done     chan struct{} // closed once res or alone is set
	res      eventstore.AppendResult
	alone    bool // not written by a group: the caller appends alone
	taken    bool // guarded by groups.mu: taken into a group
	gone     bool // guarded by groups.mu: its caller left before it was taken
}

// groups is the append queue of a Store and its writers.
type groups struct {
	s      *Store
	max    int
	linger time.Duration
	filled chan struct{} // signalled when the queue reaches groupFill

	mu      sync.Mutex
	queue   []*queuedAppend
	writers int             // guarded by mu: goroutines writing groups
	alone   int             // guarded by mu: appends written alone, outside any group, now
	busy    map[string]bool // guarded by mu: streams of the groups being written

	// statements and written count the group statements run and the appends they wrote.
	statements, written atomic.Int64
}

func newGroups(s *Store, max int, linger time.Duration) *groups {
	if max == 0 {
		max = DefaultAppendGroups
	}
	if max < 0 {
		return nil
	}
	if linger == 0 {
		linger = DefaultAppendLinger
	}
	return &groups{s: s, max: max, linger: linger, filled: make(chan struct{}, 1), busy: map[string]bool{}}
}

// append writes an append at the exact version expected (0: no stream), in a group or,
// when nothing else is being appended, or the group did not write it, by calling alone.
// When ctx ends while it waits in a group, it returns ctx's error, and the append may or
// may not have been written.
func (g *groups) append(ctx context.Context, stream string, expected int64, events []eventstore.EventData,
	alone func() (eventstore.AppendResult, error)) (eventstore.AppendResult, error) {
	g.mu.Lock()
	if len(g.queue) == 0 && g.writers == 0 && g.alone == 0 {
		// Nothing to group it with: the caller writes it at once.
		g.alone++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.alone--
			g.mu.Unlock()
		}()
		return alone()
	}
	q := &queuedAppend{stream: stream, expected: expected, events: events, done: make(chan struct{})}
	g.queue = append(g.queue, q)
	if len(g.queue) == groupFill {
		select {
		case g.filled <- struct{}{}:
		default:
		}
	}
	start := g.writers < g.max
	if start {
		g.writers++
	}
	g.mu.Unlock()
	if start && !g.s.goBackground(g.write) {
		// The Store is closed: the append fails alone.
		g.mu.Lock()
		g.writers--
		q.gone = true
		g.mu.Unlock()
		return alone()
	}
	select {
	case <-q.done:
	case <-ctx.Done():
		g.mu.Lock()
		if !q.taken {
			q.gone = true
		}
		g.mu.Unlock()
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: %s: %w", appendOp(stream), ctx.Err())
	}
	if q.alone {
		return alone()
	}
	return q.res, nil
}

// GroupStats reports how many group statements the Store has written and how many appends
// they wrote; the appends written alone are not counted. Their ratio is the average size
// of a group. Both are zero when the Store writes every append alone (Config.AppendGroups
// negative).
func (s *Store) GroupStats() (statements, appends int64) {
	if s.groups == nil {
		return 0, 0
	}
	return s.groups.statements.Load(), s.groups.written.Load()
}

// write writes groups from the queue until it finds nothing to take.
func (g *groups) write() {
	for {
		g.fill()
		g.mu.Lock()
		group := g.take()
		if len(group) == 0 {
			g.writers--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.run(group)
		g.mu.Lock()
		for _, q := range group {
			delete(g.busy, q.stream)
		}
		g.mu.Unlock()
		for _, q := range group {
			close(q.done)
		}
	}
}

// fill waits, at most the linger, for the queue to hold groupFill appends.
func (g *groups) fill() {
	if g.linger <= 0 {
		return
	}
	g.mu.Lock()
	short := len(g.queue) < groupFill
	g.mu.Unlock()
	if !short {
		return
	}
	t := time.NewTimer(g.linger)
	defer t.Stop()
	select {
	case <-g.filled:
	case <-t.C:
	case <-g.s.ctx.Done():
	}
}

// take removes the next group from the queue: the appends, in queue order, whose stream
// is in no group being written, within the limits of a statement. It is called with mu
// held. What it leaves is taken by the writer of the group that holds its stream, or by
// the next.
func (g *groups) take() []*queuedAppend {
	var group []*queuedAppend
	events := 0
	rest := g.queue[:0]
	for _, q := range g.queue {
		switch {
		case q.gone:
			continue
		case g.busy[q.stream] || len(group) == groupMaxAppends || (len(group) > 0 && events+len(q.events) > groupMaxEvents):
			rest = append(rest, q)
			continue
		}
		q.taken = true
		g.busy[q.stream] = true
		group = append(group, q)
		events += len(q.events)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return group
}

// run writes group and sets the result of each append, or marks it to be appended alone.
func (g *groups) run(group []*queuedAppend) {
	if len(group) == 1 {
		group[0].alone = true
		return
	}
	n := 0
	for _, q := range group {
		n += len(q.events)
	}
	written, err := g.insertGroup(group, n)
	g.statements.Add(1)
	for _, q := range group {
		res, ok := written[q.stream]
		if err != nil || !ok {
			q.alone = true
			continue
		}
		q.res = res
	}
	if err == nil && len(written) > 0 {
		g.written.Add(int64(len(written)))
		g.s.announce()
	}
}
