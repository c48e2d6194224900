package commands

import (
	"context"
	"sync/atomic"
	"time"
)

// AppendTiming adds up the time the commands run with its context spent appending their
// events to the event store: the append's round trip, and under load its wait for a group
// commit. The API reports it in each command's answer (Server-Timing "store"), so that a
// command's time splits into the store's part and the rest.
type AppendTiming struct{ ns atomic.Int64 }

type appendTimingKey struct{}

// WithAppendTiming returns a context whose commands add their appends' time to the
// returned AppendTiming.
func WithAppendTiming(ctx context.Context) (context.Context, *AppendTiming) {
	t := &AppendTiming{}
	return context.WithValue(ctx, appendTimingKey{}, t), t
}

// Total is the time added so far.
func (t *AppendTiming) Total() time.Duration { return time.Duration(t.ns.Load()) }

// timeAppend adds the time since began to the AppendTiming of ctx, if it has one.
func timeAppend(ctx context.Context, began time.Time) {
	if t, ok := ctx.Value(appendTimingKey{}).(*AppendTiming); ok {
		t.ns.Add(int64(time.Since(began)))
	}
}
