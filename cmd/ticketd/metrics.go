package main

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/projections"
)

// countingStore counts the failures of an event store by operation; expected outcomes
// (a lost race for a stream's version, a stream that does not exist, a cancelled call)
// are not failures. It times the calls commands make (appends and stream reads) when
// latency is set.
type countingStore struct {
	eventstore.Store
	errors  *prometheus.CounterVec
	latency *prometheus.HistogramVec
	// pacer, when set, notes the positions appended (see projections.Pacer).
	pacer *projections.Pacer
}

func (s *countingStore) count(op string, err error) error {
	if err != nil && !errors.Is(err, eventstore.ErrWrongExpectedVersion) && !errors.Is(err, eventstore.ErrStreamNotFound) &&
		!errors.Is(err, context.Canceled) {
		s.errors.WithLabelValues(op).Inc()
	}
	return err
}

// timed observes the time since start as a call of op, if the store is timed.
func (s *countingStore) timed(op string, start time.Time) {
	if s.latency != nil {
		s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

func (s *countingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	r, err := s.Store.Append(ctx, stream, expected, events...)
	s.timed("append", start)
	if err == nil {
		s.pacer.Appended(r.Position)
	}
	return r, s.count("append", err)
}

func (s *countingStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	start := time.Now()
	r, err := s.Store.ReadStream(ctx, stream, opts)
	s.timed("read_stream", start)
	return r, s.count("read_stream", err)
}

// ReadStreams implements eventstore.StreamsReader: in one request where the store can,
// otherwise stream by stream (eventstore.ReadStreams).
func (s *countingStore) ReadStreams(ctx context.Context, reads []eventstore.StreamRead) ([]eventstore.StreamEvents, error) {
	start := time.Now()
	r, err := eventstore.ReadStreams(ctx, s.Store, reads)
	s.timed("read_streams", start)
	return r, s.count("read_streams", err)
}

func (s *countingStore) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	r, err := s.Store.ReadAll(ctx, opts)
	return r, s.count("read_all", err)
}

func (s *countingStore) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	r, err := s.Store.Subscribe(ctx, from, filter)
	return r, s.count("subscribe", err)
}

// lagCollector reports each projection's lag behind the log when scraped.
type lagCollector struct {
	runner *projections.Runner
}

var (
	lagEvents  = prometheus.NewDesc("ticketledger_projection_lag_events", "Log events after the projection's checkpoint.", []string{"projection"}, nil)
	lagSeconds = prometheus.NewDesc("ticketledger_projection_lag_seconds", "Age of the oldest event the projection has yet to pass.", []string{"projection"}, nil)
	healthy    = prometheus.NewDesc("ticketledger_projection_healthy", "1 when the projection is healthy.", []string{"projection"}, nil)
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEvents
	ch <- lagSeconds
	ch <- healthy
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sts, err := c.runner.Status(ctx)
	if err != nil {
		return
	}
	for _, st := range sts {
		h := 0.0
		if st.Healthy {
			h = 1
		}
		ch <- prometheus.MustNewConstMetric(lagEvents, prometheus.GaugeValue, float64(st.Lag.Events), st.Name)
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, st.Lag.Time.Seconds(), st.Name)
		ch <- prometheus.MustNewConstMetric(healthy, prometheus.GaugeValue, h, st.Name)
	}
}

// groupCollector reports the group commits of a PostgreSQL event store when scraped.
type groupCollector struct{ s *pgstore.Store }

var (
	groupStatements = prometheus.NewDesc("ticketledger_store_append_groups_total",
		"Statements that wrote several commands' appends at once, with one commit (group commit).", nil, nil)
	groupedAppends = prometheus.NewDesc("ticketledger_store_grouped_appends_total",
		"Appends written by group statements; divided by ticketledger_store_append_groups_total, the average group.", nil, nil)
)

func (c groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupStatements
	ch <- groupedAppends
}

func (c groupCollector) Collect(ch chan<- prometheus.Metric) {
	statements, appends := c.s.GroupStats()
	ch <- prometheus.MustNewConstMetric(groupStatements, prometheus.CounterValue, float64(statements))
	ch <- prometheus.MustNewConstMetric(groupedAppends, prometheus.CounterValue, float64(appends))
}
