package relay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
	"github.com/ticketledger/ticketledger/relay/egress"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 3 ":                           3 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Wed, 25 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Wed, 25 Nov 2026 09:00:00 GMT": 0,
		"99999999999":                   365 * 24 * time.Hour,
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestJitter(t *testing.T) {
	for range 1000 {
		if d := jitter(10*time.Second, 0.2); d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter(10s, 0.2) = %s", d)
		}
	}
	if jitter(0, 0.2) != 0 || jitter(time.Second, 0) != time.Second {
		t.Fatal("jitter changed a zero delay or applied a zero fraction")
	}
}

func TestFailFollowsTheSchedule(t *testing.T) {
	cfg := DispatcherConfig{Schedule: []time.Duration{0, time.Minute, time.Hour}, Jitter: -1, MaxRetryAfter: 2 * time.Hour}
	cfg.setDefaults()
	d := &Dispatcher{cfg: cfg, store: &Store{cfg: StoreConfig{Now: time.Now}}}
	r := result{state: Pending}
	before := time.Now()
	d.fail(&r, "HTTP 500", 0)
	if r.state != Pending || r.failures != 1 || r.next.Sub(before) < time.Minute || r.next.Sub(before) > time.Minute+time.Second {
		t.Fatalf("after the first failure: %+v", r)
	}
	d.fail(&r, "HTTP 503", 5*time.Hour)
	if r.failures != 2 || r.next.Sub(before) < 2*time.Hour-time.Second || r.next.Sub(before) > 2*time.Hour+time.Second {
		t.Fatalf("a Retry-After beyond the cap: %+v", r)
	}
	d.fail(&r, "HTTP 500", 0)
	if r.state != Dead || r.failures != 3 {
		t.Fatalf("after the last attempt: %+v", r)
	}
	long := strings.Repeat("é", 2000) + "\x00"
	d.fail(&r, long, 0)
	if len(r.err) > errorExcerpt || strings.Contains(r.err, "\x00") || !strings.HasPrefix(r.err, "é") {
		t.Fatalf("error not cleaned: %d bytes", len(r.err))
	}
}

func TestParseOutcomeMessage(t *testing.T) {
	good := outcomeMessage{EventID: uuid.New(), TicketID: "t", System: "shop", ProcessKey: "p", Outcome: "approved",
		Position: eventstore.MakePosition(7, 9), DecidedAt: time.Now().UTC(), Body: []byte(`{}`)}
	back, err := parseOutcomeMessage(good.watermill(uuid.New()))
	if err != nil || back.EventID != good.EventID || back.Position != good.Position || !back.DecidedAt.Equal(good.DecidedAt) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, key := range []string{MetaEventID, MetaPosition, MetaDecidedAt, MetaTicketID} {
		m := good.watermill(uuid.New())
		m.Metadata.Set(key, "")
		if key == MetaPosition {
			m.Metadata.Set(key, "x")
		}
		if _, err := parseOutcomeMessage(m); err == nil {
			t.Errorf("a message without %s was accepted", key)
		}
	}
	if _, err := parseOutcomeMessage(message.NewMessage("x", nil)); err == nil {
		t.Error("an empty message was accepted")
	}
}

func TestBuildPayloadRefuses(t *testing.T) {
	if _, err := buildPayload(nil); err == nil {
		t.Error("an empty stream was accepted")
	}
	if _, err := buildPayload([]eventstore.RecordedEvent{{Type: "ticket.commented", Version: 1}}); err == nil {
		t.Error("a stream not ending with an outcome was accepted")
	}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := NewStore(context.Background(), pool, StoreConfig{Egress: egress.Policy{Allow: egress.Loopback}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testMessage(ticketID string, major uint64) outcomeMessage {
	return outcomeMessage{EventID: uuid.New(), TicketID: ticketID, System: "shop", ProcessKey: "expense", Outcome: OutcomeApproved,
		Position: eventstore.MakePosition(major, 1), DecidedAt: time.Now().UTC(), Body: []byte(`{"n":1}`)}
}

// TestClaimOrderAndLeases: a ticket's deliveries go out one after the other in log order,
// other tickets' do not wait, an enqueue is idempotent, and a delivery whose worker died
// is claimed again once its lease expires.
func TestClaimOrderAndLeases(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	e, _, err := s.RegisterEndpoint(ctx, NewEndpoint{System: "shop", URL: "http://127.0.0.1:9/"})
	if err != nil {
		t.Fatal(err)
	}
	first, second, other := testMessage("t1", 10), testMessage("t1", 20), testMessage("t2", 15)
	for _, m := range []outcomeMessage{second, first, other, first} {
		if err := s.enqueue(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	cs, err := s.claim(ctx, e.ID, now, now.Add(200*time.Millisecond), 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]bool{}
	for _, c := range cs {
		got[c.id] = true
	}
	wantFirst, wantSecond, wantOther := WebhookID("t1", first.EventID, e.ID), WebhookID("t1", second.EventID, e.ID), WebhookID("t2", other.EventID, e.ID)
	if len(cs) != 2 || !got[wantFirst] || !got[wantOther] || got[wantSecond] {
		t.Fatalf("claimed %v; want the first outcome of t1 and t2's, not t1's second", got)
	}
	if again, _ := s.claim(ctx, e.ID, time.Now(), time.Now().Add(time.Second), 10); len(again) != 0 {
		t.Fatalf("leased deliveries were claimed again: %d", len(again))
	}

	time.Sleep(250 * time.Millisecond)
	now = time.Now()
	expired, err := s.claim(ctx, e.ID, now, now.Add(time.Minute), 10)
	if err != nil || len(expired) != 2 || expired[0].attempt != 2 {
		t.Fatalf("after the lease expired: %+v, %v", expired, err)
	}
	var rs []result
	for _, c := range expired {
		rs = append(rs, result{endpointID: e.ID, claimed: c, startedAt: now, status: http.StatusOK, state: Delivered, next: now})
	}
	stale := cs[0]
	rs = append(rs, result{endpointID: e.ID, claimed: stale, startedAt: now, err: "late", state: Dead, next: now})
	if err := s.record(ctx, rs); err != nil {
		t.Fatal(err)
	}
	d, err := s.Delivery(ctx, stale.id)
	if err != nil || d.State != Delivered {
		t.Fatalf("a worker whose lease expired overwrote the delivery: %+v, %v", d, err)
	}
	next, err := s.claim(ctx, e.ID, time.Now(), time.Now().Add(time.Minute), 10)
	if err != nil || len(next) != 1 || next[0].id != wantSecond {
		t.Fatalf("after t1's first outcome was delivered: %+v, %v", next, err)
	}
	as, _ := s.Attempts(ctx, AttemptQuery{DeliveryID: stale.id})
	if len(as) != 2 {
		t.Fatalf("%d attempts recorded for the re-leased delivery, want both", len(as))
	}
}

// TestCommitRefusesAMovedCheckpoint moves a relay's checkpoint under it: its commit
// writes nothing and says so; a commit from where the checkpoint is writes the batch and
// moves it.
func TestCommitRefusesAMovedCheckpoint(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	transport, err := NewSQLTransport(ctx, s.pool, SQLTransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { transport.Close() })
	r, err := New(struct{ eventstore.Store }{}, s, transport, RelayConfig{Name: "moved"})
	if err != nil {
		t.Fatal(err)
	}
	start, err := s.loadCheckpoint(ctx, "moved")
	if err != nil {
		t.Fatal(err)
	}
	moved, next := eventstore.MakePosition(5, 1), eventstore.MakePosition(12, 1)
	if _, err := s.pool.Exec(ctx, `UPDATE relay_checkpoints SET position = $2 WHERE name = $1`, "moved", moved.String()); err != nil {
		t.Fatal(err)
	}
	m := testMessage("t1", 10)
	count := func() (n int) {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM relay_messages WHERE event_id = $1`, m.EventID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := r.commit(ctx, start, next, &batch{outcomes: []outcomeMessage{m}}); !errors.Is(err, errCheckpointMoved) {
		t.Fatalf("commit from %s with the checkpoint at %s: %v, want errCheckpointMoved", start, moved, err)
	}
	if n := count(); n != 0 {
		t.Fatalf("a refused commit wrote %d outcome rows", n)
	}
	if err := r.commit(ctx, moved, next, &batch{outcomes: []outcomeMessage{m}}); err != nil {
		t.Fatalf("commit from the checkpoint: %v", err)
	}
	if cp, err := s.Checkpoint(ctx, "moved"); err != nil || cp != next || count() != 1 {
		t.Fatalf("after the commit: checkpoint %s (%v), %d outcome rows; want %s and 1", cp, err, count(), next)
	}
}
