package relay_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/relay"
)

// TestReceiverDownThenBack: outcomes decided while the receiver is down are retried
// and all arrive once it is back.
func TestReceiverDownThenBack(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e, secret, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: "http://" + addr + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastDispatch()
	cfg.Schedule = []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second, time.Second, time.Second, time.Second}
	h.start(h.sqlTransport(), cfg)

	const n = 20
	ids := h.outcomes(n, 8)
	waitFor(t, 10*time.Second, "every delivery to fail at least once", func() bool {
		ds, _ := h.store.Deliveries(ctx, relay.DeliveryQuery{EndpointID: e.ID, Limit: n})
		if len(ds) < n {
			return false
		}
		for _, d := range ds {
			if d.Failures == 0 {
				return false
			}
		}
		return true
	})

	var l2 net.Listener
	waitFor(t, 5*time.Second, "the receiver's address to be free again", func() bool {
		l2, err = net.Listen("tcp", addr)
		return err == nil
	})
	// The secret is there before the first request: the relay retries as soon as the
	// address answers, and a request verified without it would fail the test.
	rcv := newReceiverAt(t, l2, secret.Reveal())
	waitFor(t, 15*time.Second, "every outcome after the receiver came back", func() bool { return len(rcv.distinct()) == n })
	seen := map[string]bool{}
	for _, g := range rcv.all() {
		if g.verified != nil {
			t.Fatal(g.verified)
		}
		seen[g.payload.Data.TicketID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("ticket %s never arrived", id)
		}
	}
	waitFor(t, 5*time.Second, "every delivery to be recorded as delivered", func() bool { return h.countState(e.ID, relay.Delivered) == n })
	as, _ := h.store.Attempts(ctx, relay.AttemptQuery{EndpointID: e.ID, Limit: 1000})
	refused := 0
	for _, a := range as {
		if a.Status == 0 && strings.Contains(a.Error, "refused") {
			refused++
		}
	}
	if refused < n {
		t.Fatalf("%d refused attempts recorded, want at least %d", refused, n)
	}
}

// TestRestartLosesNothing stops relay and dispatcher while an attempt is in flight and
// while outcomes keep being decided; after a restart everything arrives, and the
// interrupted delivery is repeated with the same webhook-id.
func TestRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	entered, release := make(chan string, 1), make(chan struct{})
	var first atomic.Bool
	rcv.setRespond(func(r received, w http.ResponseWriter) int {
		if first.CompareAndSwap(false, true) {
			entered <- r.id
			<-release
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	cut := fastDispatch()
	cut.StopGrace = 100 * time.Millisecond // shorter than the attempt's timeout: the stop cuts it
	run := h.start(h.sqlTransport(), cut)
	ids := h.outcomes(1, 1)
	var interrupted string
	select {
	case interrupted = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never arrived")
	}
	run.stop()
	close(release)
	ids = append(ids, h.outcomes(10, 4)...)

	h.start(h.sqlTransport(), fastDispatch())
	waitFor(t, 15*time.Second, "every outcome after the restart", func() bool { return len(rcv.distinct()) == len(ids) })
	got := rcv.distinct()
	if len(got[interrupted]) < 2 {
		t.Fatalf("the interrupted delivery %s arrived %d times, want a repeat with the same webhook-id", interrupted, len(got[interrupted]))
	}
	tickets := map[string]bool{}
	for _, rs := range got {
		for _, r := range rs {
			if r.verified != nil {
				t.Fatal(r.verified)
			}
			tickets[r.payload.Data.TicketID] = true
		}
	}
	for _, id := range ids {
		if !tickets[id] {
			t.Fatalf("ticket %s was lost across the restart", id)
		}
	}
	waitFor(t, 5*time.Second, "every delivery to be recorded", func() bool { return h.countState(e.ID, relay.Delivered) == len(ids) })
	id, _ := uuid.Parse(interrupted)
	as, err := h.store.Attempts(ctx, relay.AttemptQuery{DeliveryID: id})
	if err != nil || len(as) < 2 || !strings.Contains(as[len(as)-1].Error, "interrupted") {
		t.Fatalf("attempts of the interrupted delivery: %+v, %v", as, err)
	}
}

// TestConcurrentOutcomes decides many tickets at once: each outcome arrives under its
// own webhook-id, exactly one per ticket.
func TestConcurrentOutcomes(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	h := newHarness(t)
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	h.start(h.sqlTransport(), fastDispatch())
	ids := h.outcomes(n, 16)
	waitFor(t, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= n })
	time.Sleep(200 * time.Millisecond)
	if got := rcv.distinct(); len(got) != n {
		t.Fatalf("%d distinct webhook-ids, want %d", len(got), n)
	}
	eachTicketOnce(t, rcv, ids)
	waitFor(t, 10*time.Second, "every delivery to be recorded", func() bool { return h.countState(e.ID, relay.Delivered) == n })
}

// TestDeadEndpointDoesNotDelayHealthy runs a healthy endpoint next to one that never
// answers and one that refuses connections: the healthy one gets every outcome well within
// the attempt timeout the hanging one burns on every attempt.
func TestDeadEndpointDoesNotDelayHealthy(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer hang.Close()
	hanging, _, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: hang.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.store.RegisterEndpoint(ctx, relay.NewEndpoint{System: "shop", URL: "http://127.0.0.1:1/refused"}); err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	cfg := fastDispatch()
	// The hanging endpoint's timeout is long enough that a busy machine's slowness is
	// not mistaken for the healthy endpoint waiting behind it.
	cfg.Timeout, cfg.Lease, cfg.Concurrency = 8*time.Second, 10*time.Second, 10
	cfg.Schedule = []time.Duration{0}
	h.start(h.sqlTransport(), cfg)

	const n = 10
	h.outcomes(n, 5)
	waitFor(t, 10*time.Second, "the healthy endpoint's outcomes", func() bool { return len(rcv.distinct()) == n })
	var worst time.Duration
	for _, r := range rcv.all() {
		worst = max(worst, r.at.Sub(r.payload.Data.DecidedAt))
	}
	if worst >= cfg.Timeout {
		t.Fatalf("the healthy endpoint waited up to %s for an outcome: the hanging endpoint held it back", worst)
	}
	t.Logf("healthy endpoint: worst decision-to-receipt latency %s next to a hanging endpoint", worst)

	waitFor(t, 40*time.Second, "the hanging endpoint's deliveries to be dead-lettered", func() bool { return h.countState(hanging.ID, relay.Dead) == n })
	as, _ := h.store.Attempts(ctx, relay.AttemptQuery{EndpointID: hanging.ID, Limit: 1})
	if len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Error, "deadline") || as[0].Latency < cfg.Timeout {
		t.Fatalf("attempt on the hanging endpoint: %+v", as)
	}
}

// TestResponses covers what the dispatcher does with what receivers answer: Retry-After
// postpones the retry, a redirect is a failure and is not followed, a dead-lettered
// delivery is revived by an operator, and 410 Gone disables the endpoint.
func TestResponses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	slow := newReceiver(t)
	slowEp := h.register(slow, relay.NewEndpoint{})
	var slowCalls atomic.Int32
	slow.setRespond(func(_ received, w http.ResponseWriter) int {
		if slowCalls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})

	target := newReceiver(t)
	redirecting := newReceiver(t)
	redirectEp := h.register(redirecting, relay.NewEndpoint{})
	var redirectOn atomic.Bool
	redirectOn.Store(true)
	redirecting.setRespond(func(_ received, w http.ResponseWriter) int {
		if redirectOn.Load() {
			w.Header().Set("Location", target.srv.URL)
			return http.StatusFound
		}
		return http.StatusAccepted
	})

	gone := newReceiver(t)
	goneEp := h.register(gone, relay.NewEndpoint{})
	var goneOn atomic.Bool
	goneOn.Store(true)
	gone.setRespond(func(_ received, w http.ResponseWriter) int {
		if goneOn.Load() {
			return http.StatusGone
		}
		return http.StatusOK
	})

	cfg := fastDispatch()
	cfg.Schedule = []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond}
	cfg.Jitter = -1
	h.start(h.sqlTransport(), cfg)
	h.outcomes(1, 1)

	waitFor(t, 10*time.Second, "the retry after Retry-After", func() bool { return len(slow.all()) == 2 })
	calls := slow.all()
	if gap := calls[1].at.Sub(calls[0].at); gap < 900*time.Millisecond {
		t.Fatalf("retried %s after a Retry-After of 1 s", gap)
	}

	waitFor(t, 10*time.Second, "the redirected delivery to die", func() bool { return h.countState(redirectEp.ID, relay.Dead) == 1 })
	if len(target.all()) != 0 {
		t.Fatal("the redirect was followed")
	}
	ds, _ := h.store.Deliveries(ctx, relay.DeliveryQuery{EndpointID: redirectEp.ID, State: relay.Dead})
	if len(ds) != 1 || ds[0].Attempts != 3 || ds[0].LastStatus != http.StatusFound || ds[0].DeadAt.IsZero() {
		t.Fatalf("dead delivery %+v", ds)
	}
	redirectOn.Store(false)
	if n, err := h.store.RedeliverDead(ctx, redirectEp.ID); err != nil || n != 1 {
		t.Fatalf("RedeliverDead = %d, %v", n, err)
	}
	waitFor(t, 10*time.Second, "the revived delivery", func() bool { return h.countState(redirectEp.ID, relay.Delivered) == 1 })
	again, err := h.store.Redeliver(ctx, ds[0].ID)
	if err != nil || again.State != relay.Pending || again.Failures != 0 {
		t.Fatalf("Redeliver = %+v, %v", again, err)
	}
	waitFor(t, 10*time.Second, "the redelivery of a delivered message", func() bool { return len(redirecting.distinct()[ds[0].ID.String()]) == 5 })
	if _, err := h.store.Redeliver(ctx, uuid.New()); err == nil {
		t.Fatal("redelivering an unknown delivery succeeded")
	}
	if _, err := h.store.RedeliverDead(ctx, uuid.New()); err == nil {
		t.Fatal("redelivering for an unknown endpoint succeeded")
	}

	waitFor(t, 10*time.Second, "the endpoint to be disabled by 410", func() bool {
		ep, _ := h.store.Endpoint(ctx, goneEp.ID)
		return !ep.Enabled
	})
	ep, _ := h.store.Endpoint(ctx, goneEp.ID)
	if !strings.Contains(ep.DisabledReason, "410") || h.countState(goneEp.ID, relay.Pending) != 1 {
		t.Fatalf("after 410: %+v", ep)
	}
	h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the next outcome at the other endpoints", func() bool { return len(slow.distinct()) == 2 })
	if n := len(gone.all()); n != 1 {
		t.Fatalf("a disabled endpoint received %d requests", n)
	}
	// The outcome decided while it was disabled waits for it, with the paused one.
	if n := h.countState(goneEp.ID, relay.Pending); n != 2 {
		t.Fatalf("a disabled endpoint holds %d pending deliveries, want 2", n)
	}
	goneOn.Store(false)
	if _, err := h.store.EnableEndpoint(ctx, goneEp.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both held deliveries after re-enabling", func() bool { return h.countState(goneEp.ID, relay.Delivered) == 2 })
	if _, err := h.store.Delivery(ctx, slowEp.ID); err == nil {
		t.Fatal("a delivery was found under an endpoint id")
	}
}

// TestDialTimeCheck registers an endpoint through a permissive store but dispatches with
// the default policy: the dial is refused and nothing reaches the receiver.
func TestDialTimeCheck(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	cfg := fastDispatch()
	cfg.Egress.Allow = nil
	cfg.Schedule = []time.Duration{0}
	h.start(h.sqlTransport(), cfg)
	h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the refused delivery to die", func() bool { return h.countState(e.ID, relay.Dead) == 1 })
	as, _ := h.store.Attempts(context.Background(), relay.AttemptQuery{EndpointID: e.ID})
	if len(rcv.all()) != 0 || len(as) != 1 || !strings.Contains(as[0].Error, "not allowed") {
		t.Fatalf("attempts %+v, received %d", as, len(rcv.all()))
	}
}

// TestTamperedHistoryIsQuarantined appends a forged outcome to a ticket: the relay does
// not send it and records why.
func TestTamperedHistoryIsQuarantined(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	h.start(h.sqlTransport(), fastDispatch())
	id := h.submit("forged")
	if _, err := h.events.Append(ctx, "ticket-"+id, eventstore.StreamExists, eventstore.EventData{
		Type: "ticket.approved", Data: []byte(`{"at":"2026-11-25T10:00:00Z"}`), Metadata: []byte(`{"actor":"mallory"}`),
	}); err != nil {
		t.Fatal(err)
	}
	ids := h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the genuine outcome", func() bool { return len(rcv.all()) == 1 })
	if got := rcv.all()[0].payload.Data.TicketID; got != ids[0] {
		t.Fatalf("received ticket %s, want only the genuine %s", got, ids[0])
	}
	q, err := h.store.Quarantined(ctx)
	if err != nil || len(q) != 1 || q[0].Stream != "ticket-"+id || !strings.Contains(q[0].Reason, "hash") {
		t.Fatalf("quarantine %+v, %v", q, err)
	}
}

// TestDeletedStreamIsQuarantined tombstones the stream of a ticket after its outcome: the
// relay, reading it with the other outcomes of its batch, quarantines that one and sends
// those. The relay keeps no recent streams here, so that it reads every stream (one it
// followed from its start would be relayed as followed).
func TestDeletedStreamIsQuarantined(t *testing.T) {
	h := newHarness(t)
	h.recentBytes = -1
	ctx := context.Background()
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	gone := h.outcomes(1, 1)[0]
	if err := h.events.Tombstone(ctx, "ticket-"+gone, eventstore.Any); err != nil {
		t.Fatal(err)
	}
	ids := h.outcomes(3, 3)
	h.start(h.sqlTransport(), fastDispatch())
	waitFor(t, 10*time.Second, "the three other outcomes", func() bool { return len(rcv.all()) == 3 })
	got := map[string]bool{}
	for _, r := range rcv.all() {
		got[r.payload.Data.TicketID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("received %v, want %v", got, ids)
		}
	}
	q, err := h.store.Quarantined(ctx)
	if err != nil || len(q) != 1 || q[0].Stream != "ticket-"+gone || !strings.Contains(q[0].Reason, "deleted") {
		t.Fatalf("quarantine %+v, %v", q, err)
	}
}

// TestElection runs two relays with the same name: one waits while the other is active,
// and every outcome is still published once.
func TestElection(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t)
	h.register(rcv, relay.NewEndpoint{})
	tr := h.sqlTransport()
	h.start(tr, fastDispatch())
	second, err := relay.New(h.events, h.store, tr, relay.RelayConfig{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = second.Run(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	h.outcomes(10, 4)
	waitFor(t, 10*time.Second, "every outcome", func() bool { return len(rcv.distinct()) == 10 })
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM "watermill_ticket-outcomes"`).Scan(&n); err != nil || n != 10 {
		t.Fatalf("%d messages published (%v), want 10", n, err)
	}
}

// TestStopLetsAnAttemptFinish: an attempt in flight when the dispatcher stops, answered
// within the grace, is recorded as delivered and not sent again after a restart.
func TestStopLetsAnAttemptFinish(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	entered := make(chan string, 1)
	var first atomic.Bool
	rcv.setRespond(func(r received, w http.ResponseWriter) int {
		if first.CompareAndSwap(false, true) {
			entered <- r.id
			time.Sleep(500 * time.Millisecond)
		}
		return http.StatusNoContent
	})
	run := h.start(h.sqlTransport(), fastDispatch())
	ids := h.outcomes(1, 1)
	var slow string
	select {
	case slow = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never arrived")
	}
	run.stop()
	if n := h.countState(e.ID, relay.Delivered); n != 1 {
		t.Fatalf("after the stop: %d deliveries delivered, want the one in flight", n)
	}
	ids = append(ids, h.outcomes(3, 3)...)
	h.start(h.sqlTransport(), fastDispatch())
	waitFor(t, 15*time.Second, "every outcome after the restart", func() bool { return len(rcv.distinct()) == len(ids) })
	time.Sleep(300 * time.Millisecond)
	if got := rcv.distinct(); len(got[slow]) != 1 {
		t.Fatalf("the delivery answered during the stop arrived %d times, want once", len(got[slow]))
	}
	eachTicketOnce(t, rcv, ids)
}

// TestFirstDelay holds each delivery's first attempt for the schedule's first delay,
// counted from the outcome's arrival, and shows it due then; an operator's redelivery of
// a delivery still held sends it at once.
func TestFirstDelay(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rec := newReceiver(t)
	h.register(rec, relay.NewEndpoint{})
	cfg := fastDispatch()
	cfg.Schedule = append([]time.Duration{time.Second}, cfg.Schedule[1:]...)
	run := h.start(h.sqlTransport(), cfg)
	defer func() { run.stop() }()
	sent := time.Now()
	h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the delivery", func() bool { return len(rec.all()) == 1 })
	if waited := rec.all()[0].at.Sub(sent); waited < time.Second {
		t.Fatalf("the first attempt came %s after the outcome, within the first delay of 1s", waited)
	}

	cfg.Schedule[0] = time.Hour
	run.stop()
	run = h.start(h.sqlTransport(), cfg)
	h.outcomes(1, 1)
	var held relay.Delivery
	waitFor(t, 10*time.Second, "the held delivery", func() bool {
		ds, err := h.store.Deliveries(ctx, relay.DeliveryQuery{State: relay.Pending})
		if err != nil || len(ds) != 1 {
			return false
		}
		held = ds[0]
		return true
	})
	if due := time.Until(held.NextAttemptAt); due < 50*time.Minute {
		t.Fatalf("the held delivery shows itself due in %s, want about an hour", due)
	}
	again := time.Now()
	if _, err := h.store.Redeliver(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the redelivery", func() bool { return len(rec.all()) == 2 })
	if waited := rec.all()[1].at.Sub(again); waited >= 30*time.Second {
		t.Fatalf("the redelivery waited %s", waited)
	}
}
