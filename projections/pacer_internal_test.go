package projections

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// TestPacerBookkeeping holds the Pacer's list of appended positions to a plain model: the
// positions appended in order and not forgotten, the last pacerKeep of them at most, and
// the position owed at a cutoff the last of them appended at or before it; the list's
// storage stays within twice what it keeps.
func TestPacerBookkeeping(t *testing.T) {
	p := &Pacer{bound: time.Millisecond}
	var model []appended
	appendedAt := func(pos eventstore.Position) {
		p.Appended(pos)
		// An answer out of order is covered by the later position already noted.
		if len(model) == 0 || pos.After(model[len(model)-1].pos) {
			model = append(model, appended{pos: pos, at: p.pending[len(p.pending)-1].at})
			if len(model) > pacerKeep {
				model = model[1:]
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next := uint64(1)
	for step := 0; step < 60000; step++ {
		r := rng.IntN(10)
		if step < pacerKeep+5000 {
			r = 0 // first more appends than the Pacer keeps
		}
		switch {
		case r < 7:
			appendedAt(eventstore.MakePosition(next, 0))
			next += 1 + uint64(rng.IntN(3))
		case r < 8:
			appendedAt(eventstore.MakePosition(next/2, 0))
		default:
			through := eventstore.MakePosition(uint64(rng.IntN(int(next)+1)), 0)
			p.mu.Lock()
			p.forgetThrough(through)
			p.mu.Unlock()
			for len(model) > 0 && !through.Before(model[0].pos) {
				model = model[1:]
			}
		}
		live := p.pending[p.head:]
		if len(live) != len(model) {
			t.Fatalf("step %d: %d positions kept, want %d", step, len(live), len(model))
		}
		for i := range model {
			if live[i] != model[i] {
				t.Fatalf("step %d: position %d is %v, want %v", step, i, live[i], model[i])
			}
		}
		if cap(p.pending) > 2*pacerKeep+1 && p.head > 0 {
			t.Fatalf("step %d: %d entries of storage for %d kept", step, cap(p.pending), len(live))
		}
		if len(model) > 0 && step%97 == 0 {
			cutoff := model[rng.IntN(len(model))].at
			var want eventstore.Position
			for _, a := range model {
				if a.at.After(cutoff) {
					break
				}
				want = a.pos
			}
			if got := p.owed(cutoff); got != want {
				t.Fatalf("step %d: owed %v at %v, want %v", step, got, cutoff, want)
			}
		}
	}
}
