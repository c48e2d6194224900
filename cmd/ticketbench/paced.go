package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// parsePaced sums the _count and _sum series of pacedMetric in a Prometheus text
// exposition.
func parsePaced(r io.Reader) (paced, error) {
	var p paced
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, pacedMetric)
		if !ok {
			continue
		}
		var into *float64
		switch {
		case strings.HasPrefix(rest, "_count{"), strings.HasPrefix(rest, "_count "):
			into = &p.count
		case strings.HasPrefix(rest, "_sum{"), strings.HasPrefix(rest, "_sum "):
			into = &p.seconds
		default:
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		} else if i := strings.IndexByte(rest, ' '); i >= 0 {
			rest = rest[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return paced{}, fmt.Errorf("/metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return paced{}, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		*into += v
	}
	if err := sc.Err(); err != nil {
		return paced{}, fmt.Errorf("/metrics: %w", err)
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
