package projections

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Pacer keeps a projection within a bound of the log by holding writers back: each
// position appended through this process is noted (Appended), and a writer owes, from its
// arrival (Hold), what was appended more than the bound before: it waits for the
// projection to pass that before it goes on or answers (Hold.Wait), for at most a
// second. A writer that does its work first and waits before it
// answers overlaps the two; the writers of one client still wait for the projection
// before their next command. Under a load the projection cannot follow, the
// writers slow down to its pace instead of leaving the read model further and further
// behind: a query of the read model then sees what was written at most about the bound
// before, and read-your-writes waits stay short. It paces only while this process's
// Runner is the active one for the projection and the projection has caught up with the
// log since it started. Safe for concurrent use.
type Pacer struct {
	r     *Runner
	name  string
	bound time.Duration

	mu sync.Mutex
	// pending holds the positions appended and not yet seen passed, oldest first, in
	// order of both position and time, from index head on; the entries before head are
	// passed and reused once they are half of the slice. Guarded by mu.
	pending []appended
	head    int
}

type appended struct {
	pos eventstore.Position
	at  time.Time
}

// pacerMaxWait bounds one wait of a writer, and pacerKeep the positions a Pacer keeps.
const (
	pacerMaxWait = time.Second
	pacerKeep    = 1 << 14
)

// NewPacer returns a Pacer keeping the projection named name of r within bound of the
// log; a bound that is not positive returns nil, and a nil Pacer never waits.
func NewPacer(r *Runner, name string, bound time.Duration) *Pacer {
	if bound <= 0 {
		return nil
	}
	return &Pacer{r: r, name: name, bound: bound}
}

// Projection returns the name of the projection p paces writers for.
func (p *Pacer) Projection() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Appended notes a position appended through this process.
func (p *Pacer) Appended(pos eventstore.Position) {
	if p == nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.pending); n > p.head && !pos.After(p.pending[n-1].pos) {
		return // appends answer out of order; the later position covers this one
	}
	if len(p.pending)-p.head == pacerKeep {
		p.head++
	}
	if p.head > 0 && p.head >= len(p.pending)/2 {
		p.pending = append(p.pending[:0], p.pending[p.head:]...)
		p.head = 0
	}
	p.pending = append(p.pending, appended{pos: pos, at: now})
}

// A Hold is what a writer owes the Pacer: the position the projection must pass, taken
// when the writer arrived, before the writer may go on. The zero Hold owes nothing.
type Hold struct {
	p      *Pacer
	w      *worker
	target eventstore.Position
	since  time.Time
}

// Hold returns, at a writer's arrival, what the projection must pass first: every
// position appended more than the bound before now. A writer may do its work and wait
// for the Hold before it answers, so that the wait overlaps the work instead of adding
// to it; the Hold's second is counted from now.
func (p *Pacer) Hold() Hold {
	if p == nil {
		return Hold{}
	}
	w, ok := p.r.workers[p.name]
	if !ok {
		return Hold{}
	}
	w.mu.Lock()
	cp, active, caughtUp := w.checkpoint, w.active, w.caughtUp
	w.mu.Unlock()
	if !active || !caughtUp {
		// Catching up after a start or an interruption, the projection is behind by what
		// happened before: holding every command back for it would stall the API.
		return Hold{}
	}
	now := time.Now()
	cutoff := now.Add(-p.bound)
	p.mu.Lock()
	p.forgetThrough(cp)
	target := p.owed(cutoff)
	p.mu.Unlock()
	if target.IsZero() {
		return Hold{}
	}
	return Hold{p: p, w: w, target: target, since: now}
}

// Wait returns once the projection has passed the Hold's position, or a second after the
// Hold was taken, or when ctx ends (returning its error). waited is how long it held the
// caller back, 0 when it did not.
func (h Hold) Wait(ctx context.Context) (waited time.Duration, err error) {
	if h.p == nil {
		return 0, nil
	}
	h.w.mu.Lock()
	passed := !h.w.checkpoint.Before(h.target)
	h.w.mu.Unlock()
	if passed {
		return 0, ctx.Err()
	}
	began := time.Now()
	left := pacerMaxWait - began.Sub(h.since)
	if left <= 0 {
		return 0, ctx.Err()
	}
	// A projection that stays behind, or stopped, holds a writer back a second at most;
	// the wait's own error says no more than that. A wait that passed forgets what it
	// passed, which the checkpoint itself may not show yet (a store that checkpoints
	// filtered subscriptions only every so many events: see WaitFor).
	if err := h.p.r.WaitFor(ctx, h.p.name, h.target, left); err == nil {
		h.p.mu.Lock()
		h.p.forgetThrough(h.target)
		h.p.mu.Unlock()
	}
	return time.Since(began), ctx.Err()
}

// owed returns the last position appended at or before cutoff that the projection has
// not been seen to pass, or the zero Position. It is called with mu held.
func (p *Pacer) owed(cutoff time.Time) eventstore.Position {
	live := p.pending[p.head:]
	if i := sort.Search(len(live), func(i int) bool { return live[i].at.After(cutoff) }); i > 0 {
		return live[i-1].pos
	}
	return eventstore.Position{}
}

// forgetThrough drops the positions at or before pos, which the projection has passed. It
// is called with mu held.
func (p *Pacer) forgetThrough(pos eventstore.Position) {
	live := p.pending[p.head:]
	p.head += sort.Search(len(live), func(i int) bool { return pos.Before(live[i].pos) })
}
