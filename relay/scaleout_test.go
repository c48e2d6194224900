package relay_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/relay"
)

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTwoProcessesShareOneDatabase runs two relay-and-dispatcher pairs on one database,
// as two ticketd processes would: every outcome arrives under exactly one webhook-id, every
// delivery ends delivered, and the second dispatcher's intake never has to be retried.
func TestTwoProcessesShareOneDatabase(t *testing.T) {
	n := 120
	if testing.Short() {
		n = 40
	}
	h := newHarness(t)
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	var logs lockedBuffer
	dc := fastDispatch()
	dc.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	h.start(h.sqlTransport(), dc)
	h.start(h.sqlTransport(), dc)
	ids := h.outcomes(n, 16)
	waitFor(t, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= n })
	eachTicketOnce(t, rcv, ids)
	waitFor(t, 10*time.Second, "every delivery to be recorded", func() bool { return h.countState(e.ID, relay.Delivered) == n })
	if out := logs.String(); strings.Contains(out, "not enqueued") {
		t.Errorf("an intake had to be retried:\n%s", out)
	}
}
