package relay_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/relay"
)

const benchOutcomes = 500

// BenchmarkDelivery measures the relay on one PostgreSQL database with the SQL transport
// and one local receiver, 500 outcomes per run:
//
//   - backlog: the outcomes are decided while the relay is stopped; deliveries/s is the
//     rate at which the started relay and dispatcher deliver them all (backlog-nats: the
//     same over NATS JetStream).
//   - paced: submitted tickets are decided at 250 a second with the relay running;
//     p50-ms and p99-ms are the decision-to-receipt latency (the outcome event's time to
//     the receiver's clock).
//   - burst: tickets are submitted and decided as fast as 16 clients can; deliveries/s
//     runs from the first decision to the last receipt.
func BenchmarkDelivery(b *testing.B) {
	b.Run("backlog", func(b *testing.B) {
		for b.Loop() {
			h, rcv := benchSetup(b)
			h.outcomes(benchOutcomes, 16)
			start := time.Now()
			run := h.start(h.sqlTransport(), fastDispatch())
			waitFor(b, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= benchOutcomes })
			elapsed := time.Since(start)
			run.stop()
			b.ReportMetric(benchOutcomes/elapsed.Seconds(), "deliveries/s")
		}
	})
	b.Run("backlog-nats", func(b *testing.B) {
		for b.Loop() {
			h, rcv := benchSetup(b)
			h.outcomes(benchOutcomes, 16)
			tr, err := relay.NewNATSTransport(context.Background(), natsConfig(b))
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			run := h.start(tr, fastDispatch())
			waitFor(b, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= benchOutcomes })
			elapsed := time.Since(start)
			run.stop()
			tr.Close()
			b.ReportMetric(benchOutcomes/elapsed.Seconds(), "deliveries/s")
		}
	})
	b.Run("paced", func(b *testing.B) {
		for b.Loop() {
			h, rcv := benchSetup(b)
			ids := make([]string, benchOutcomes)
			for i := range ids {
				ids[i] = h.submit(uuid.NewString())
			}
			run := h.start(h.sqlTransport(), fastDispatch())
			time.Sleep(300 * time.Millisecond)
			tick := time.NewTicker(time.Second / 250)
			var wg sync.WaitGroup
			for i, id := range ids {
				<-tick.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := h.decide(i, id); err != nil {
						b.Error(err)
					}
				}()
			}
			tick.Stop()
			wg.Wait()
			waitFor(b, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= benchOutcomes })
			run.stop()
			reportLatency(b, rcv)
			breakdown(b, h)
		}
	})
	b.Run("burst", func(b *testing.B) {
		for b.Loop() {
			h, rcv := benchSetup(b)
			run := h.start(h.sqlTransport(), fastDispatch())
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			h.outcomes(benchOutcomes, 16)
			decided := time.Since(start)
			waitFor(b, 60*time.Second, "every outcome", func() bool { return len(rcv.distinct()) >= benchOutcomes })
			elapsed := time.Since(start)
			run.stop()
			b.ReportMetric(benchOutcomes/decided.Seconds(), "decisions/s")
			b.ReportMetric(benchOutcomes/elapsed.Seconds(), "deliveries/s")
			reportLatency(b, rcv)
			breakdown(b, h)
		}
	})
}

func benchSetup(b *testing.B) (*harness, *receiver) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	h := newHarness(b)
	rcv := newReceiver(b)
	h.register(rcv, relay.NewEndpoint{})
	return h, rcv
}

func reportLatency(b *testing.B, rcv *receiver) {
	var lat []time.Duration
	for _, rs := range rcv.distinct() {
		lat = append(lat, rs[0].at.Sub(rs[0].payload.Data.DecidedAt))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// breakdown logs where the latency goes: decision → relayed (the relay's transaction) →
// enqueued (the dispatcher's intake) → first attempt started.
func breakdown(b *testing.B, h *harness) {
	var v [6]float64
	err := h.pool.QueryRow(context.Background(), `SELECT
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM m.relayed_at - m.decided_at)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM m.relayed_at - m.decided_at)),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - m.relayed_at)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - m.relayed_at)),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - d.created_at)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - d.created_at))
		FROM relay_messages m JOIN relay_deliveries d ON d.event_id = m.event_id JOIN relay_attempts a ON a.delivery_id = d.id AND a.number = 1`).
		Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5])
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("decision→relayed p50 %.0f ms p99 %.0f ms; relayed→enqueued p50 %.0f ms p99 %.0f ms; enqueued→attempt p50 %.0f ms p99 %.0f ms",
		v[0]*1000, v[1]*1000, v[2]*1000, v[3]*1000, v[4]*1000, v[5]*1000)
}
