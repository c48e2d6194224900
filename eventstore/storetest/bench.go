package storetest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
)

// benchPayloadSize is the size of the data of every benchmark event, close to that of a
// ticket decision.
const benchPayloadSize = 200

// Bench runs the suite's benchmarks against the store open returns: appends of 1 and 10
// events by 1 and 32 concurrent writers, stream reads, and subscription catch-up. Each
// reports events/s.
func Bench(b *testing.B, open Opener) {
	s := open(b)
	for _, size := range []int{1, 10} {
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("Append/events=%d/writers=%d", size, writers), func(b *testing.B) {
				BenchAppend(b, s, size, writers)
			})
		}
	}
	b.Run("ReadStream/events=1000", func(b *testing.B) { benchReadStream(b, s, 1000) })
	b.Run("CatchUp/events=20000", func(b *testing.B) { benchCatchUp(b, s, 20_000) })
}

// benchEvents returns n events of benchPayloadSize bytes of data.
func benchEvents(stream string, n int) []eventstore.EventData {
	evs := newEvents("bench.appended", stream, 0, n)
	for i := range evs {
		pad := benchPayloadSize - len(evs[i].Data)
		if pad > 0 {
			evs[i].Data = []byte(fmt.Sprintf(`{"stream":%q,"pad":%q}`, stream, strings.Repeat("x", max(pad-20, 0))))
		}
	}
	return evs
}

// BenchAppend runs b.N appends of size events each with writers concurrent writers, each
// writer appending at the exact version it last wrote to streams of its own (a new stream
// every 100 appends), and reports events/s and appends/s.
func BenchAppend(b *testing.B, s eventstore.Store, size, writers int) {
	ns := namespace(b)
	ctx := ctxFor(b)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		failed error
	)
	b.ResetTimer()
	began := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var version uint64
			stream := ""
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if i%100 == 0 {
					stream, version = fmt.Sprintf("%s-%d-%d", ns, w, i), 0
				}
				res, err := s.Append(ctx, stream, eventstore.Exact(version), benchEvents(stream, size)...)
				if err != nil {
					errMu.Lock()
					failed = err
					errMu.Unlock()
					return
				}
				version = res.Version
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
}

func benchReadStream(b *testing.B, s eventstore.Store, n int) {
	stream := namespace(b) + "-read"
	for v := 0; v < n; v += 100 {
		mustAppend(b, s, stream, eventstore.Exact(uint64(v)), benchEvents(stream, 100)...)
	}
	ctx := ctxFor(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil || len(evs) != n {
			b.Fatalf("read %d events, err %v; want %d", len(evs), err, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// benchCatchUp measures how fast a new subscription delivers n stored events.
func benchCatchUp(b *testing.B, s eventstore.Store, n int) {
	ns := namespace(b)
	start := head(b, s)
	for i := 0; i < n; i += 100 {
		stream := fmt.Sprintf("%s-%d", ns, i/1000)
		mustAppend(b, s, stream, eventstore.Any, benchEvents(stream, 100)...)
	}
	filter := eventstore.Filter{StreamPrefixes: []string{ns}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := subscribe(b, s, start, filter)
		if got := r.untilCaughtUp(); len(got) != n {
			b.Fatalf("catch-up delivered %d events, want %d", len(got), n)
		}
		r.sub.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
