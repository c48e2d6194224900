package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pacedMetric is ticketd's histogram of the commands whose answers waited for a read model
// that had fallen behind the log by more than --read-lag-bound.
const pacedMetric = "ticketledger_command_paced_seconds"

// paced is what pacedMetric counted: answers that waited, and their waits in seconds.
type paced struct {
	count, seconds float64
}

// since returns what was counted after earlier.
func (p paced) since(earlier paced) paced {
	return paced{count: p.count - earlier.count, seconds: p.seconds - earlier.seconds}
}

// scrapePaced reads ticketd's /metrics and returns pacedMetric summed over its labels (the
// projections it paces for); a server that paced nothing yet exposes no series: zero.
func scrapePaced(ctx context.Context, c *client) (paced, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/metrics", nil)
	if err != nil {
		return paced{}, err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return paced{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return paced{}, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	return parsePaced(res.Body)
}

// parsePaced sums the sample counts and sums of the pacedMetric histogram over its label
// sets in a Prometheus text exposition (expfmt's parser, which refuses a malformed one).
func parsePaced(r io.Reader) (paced, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return paced{}, fmt.Errorf("/metrics: %w", err)
	}
	var p paced
	for _, m := range families[pacedMetric].GetMetric() {
		p.count += float64(m.GetHistogram().GetSampleCount())
		p.seconds += m.GetHistogram().GetSampleSum()
	}
	// Without its TYPE line, the histogram's series are read as untyped metrics of their own.
	for _, m := range families[pacedMetric+"_count"].GetMetric() {
		p.count += m.GetUntyped().GetValue()
	}
	for _, m := range families[pacedMetric+"_sum"].GetMetric() {
		p.seconds += m.GetUntyped().GetValue()
	}
	return p, nil
}

// pacedLine formats the paced answers of a run of answered commands.
func pacedLine(p paced, answered int, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("not known: %v", err)
	case p.count < 0.5:
		return "no answer waited for a read model (ticketd's --read-lag-bound)"
	}
	mean := time.Duration(p.seconds / p.count * float64(time.Second))
	return fmt.Sprintf("%.0f of %d answers waited for a read model past ticketd's --read-lag-bound, %s on average",
		p.count, answered, ms(mean))
}
