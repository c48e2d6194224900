package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/relay"
)

type metrics struct {
	requests *prometheus.HistogramVec
	commands *prometheus.HistogramVec
	// waits is how long queries given a min_position waited for their read model: the
	// read-your-writes delay clients see, which the projection lag gauges, read against
	// the log's visible head, do not show.
	waits *prometheus.HistogramVec
	// paced is how long commands waited for a read model that fell behind the log by more
	// than its bound (projections.Pacer), counting only the commands that waited.
	paced *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketledger_http_request_duration_seconds", Help: "Latency of HTTP requests by operation and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "method", "status"}),
		commands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketledger_command_duration_seconds", Help: "Latency of commands (non-GET operations) by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"command", "outcome"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketledger_read_wait_seconds", Help: "Time queries given a min_position waited for their read model (or the relay, projection \"relay\") to reach it, by projection and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"projection", "outcome"}),
		paced: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketledger_command_paced_seconds", Help: "Time commands' answers waited for a read model that fell behind the log by more than its bound (--read-lag-bound) when they arrived, counting only the commands that waited.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"projection"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, h := range []**prometheus.HistogramVec{&m.requests, &m.commands, &m.waits, &m.paced} {
		if err := reg.Register(*h); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			existing, ok := are.ExistingCollector.(*prometheus.HistogramVec)
			if !ok {
				return nil, err
			}
			*h = existing
		}
	}
	return m, nil
}

func (m *metrics) observe(operation, method string, command bool, status int, d time.Duration) {
	m.requests.WithLabelValues(operation, method, strconv.Itoa(status)).Observe(d.Seconds())
	if command {
		outcome := "ok"
		switch {
		case status >= 500:
			outcome = "error"
		case status >= 400:
			outcome = "refused"
		}
		m.commands.WithLabelValues(operation, outcome).Observe(d.Seconds())
	}
}

// waited records a read-your-writes wait for projection (or "relay"): outcome
// "reached", or "timeout" and "error" when the query did not get its position.
func (m *metrics) waited(projection string, d time.Duration, err error) {
	outcome := "reached"
	switch {
	case errors.Is(err, projections.ErrWaitTimeout), errors.Is(err, relay.ErrWaitTimeout):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	}
	m.waits.WithLabelValues(projection, outcome).Observe(d.Seconds())
}
