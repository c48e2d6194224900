package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Stress sizes: 16 writers append stressEvents events (stressEventsShort under -short)
// over stressStreams streams while a subscriber that started first follows the log.
const (
	stressWriters     = 16
	stressEvents      = 50_000
	stressEventsShort = 4_000
	stressStreams     = 256
)

// testStress checks that, under concurrent writers contending for the same streams, a
// subscriber sees every event exactly once and each stream in version order.
func testStress(t *testing.T, s eventstore.Store) {
	total := stressEvents
	if testing.Short() {
		total = stressEventsShort
	}
	ns := namespace(t)
	start := head(t, s)
	ctx := ctxFor(t)
	r := subscribe(t, s, start, eventstore.Filter{StreamPrefixes: []string{ns}})

	var (
		claimed   atomic.Int64 // events handed out to writers
		appended  atomic.Int64 // events acknowledged
		conflicts atomic.Int64
		wg        sync.WaitGroup
		failed    = make(chan error, stressWriters)
		written   sync.Map // event id → stream
	)
	for w := 0; w < stressWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			known := make(map[string]uint64)
			for {
				n := 1 + rng.IntN(3)
				if got := claimed.Add(int64(n)); got > int64(total) {
					n -= int(got - int64(total))
					if n <= 0 {
						return
					}
				}
				stream := fmt.Sprintf("%s-%03d", ns, rng.IntN(stressStreams))
				events := make([]eventstore.EventData, n)
				for i := range events {
					data, _ := json.Marshal(payload{Stream: stream, N: w})
					events[i] = eventstore.EventData{ID: uuid.New(), Type: "stress.appended", Data: data}
				}
				for attempt := 0; ; attempt++ {
					var expected eventstore.ExpectedVersion
					switch {
					case attempt > 20 || rng.IntN(4) == 0:
						expected = eventstore.Any
					default:
						expected = eventstore.Exact(known[stream])
					}
					res, err := s.Append(ctx, stream, expected, events...)
					if err == nil {
						known[stream] = res.Version
						break
					}
					var wv *eventstore.WrongVersionError
					if errors.As(err, &wv) && wv.ActualKnown {
						conflicts.Add(1)
						known[stream] = wv.Actual
						continue
					}
					if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
						conflicts.Add(1)
						continue
					}
					failed <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				for _, e := range events {
					written.Store(e.ID, stream)
				}
				appended.Add(int64(n))
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	seen := make(map[uuid.UUID]bool, total)
	next := make(map[string]uint64)
	progress := time.Now()
	for len(seen) < total {
		select {
		case err := <-failed:
			t.Fatal(err)
		default:
		}
		m := r.next()
		if m.Kind != eventstore.EventMessage {
			continue
		}
		e := m.Event
		if seen[e.ID] {
			t.Fatalf("event %s (%s@%d) delivered twice", e.ID, e.Stream, e.Version)
		}
		seen[e.ID] = true
		if want := next[e.Stream] + 1; e.Version != want {
			t.Fatalf("stream %s: delivered version %d, want %d: out of order or skipped", e.Stream, e.Version, want)
		}
		next[e.Stream] = e.Version
		if time.Since(progress) > 5*time.Second {
			t.Logf("stress: %d of %d events delivered, %d appended, %d conflicts", len(seen), total, appended.Load(), conflicts.Load())
			progress = time.Now()
		}
	}
	<-writersDone
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	if got := appended.Load(); got != int64(total) {
		t.Fatalf("writers appended %d events, want %d", got, total)
	}
	missing := 0
	written.Range(func(k, _ any) bool {
		if !seen[k.(uuid.UUID)] {
			missing++
		}
		return true
	})
	if missing != 0 {
		t.Fatalf("%d appended events were never delivered", missing)
	}
	r.noEventWithin(200 * time.Millisecond)
	streamsTotal := uint64(0)
	for stream, v := range next {
		evs := readStream(t, s, stream)
		if uint64(len(evs)) != v {
			t.Fatalf("stream %s holds %d events, the subscriber saw %d", stream, len(evs), v)
		}
		streamsTotal += v
	}
	t.Logf("stress: %d events over %d streams by %d writers, %d version conflicts retried; each delivered once, in stream order",
		streamsTotal, len(next), stressWriters, conflicts.Load())
}
