package eventstore

import (
	"context"
	"time"
)

// Receive returns the next message of a subscription's msgs: at once when one is ready,
// otherwise the first to arrive within wait. got reports whether a message came, and open
// is false once msgs is closed. It returns without a message when wait passes or ctx
// ends. Followers that gather messages into batches call it for each next message.
func Receive(ctx context.Context, msgs <-chan Message, wait time.Duration) (m Message, got, open bool) {
	select {
	case m, ok := <-msgs:
		return m, ok, ok
	default:
	}
	if wait <= 0 {
		return Message{}, false, true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case m, ok := <-msgs:
		return m, ok, ok
	case <-t.C:
	case <-ctx.Done():
	}
	return Message{}, false, true
}
