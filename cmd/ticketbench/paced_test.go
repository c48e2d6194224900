package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestParsePaced: the paced histogram's count and sum are summed over their label sets;
// its buckets, other metrics and comments are ignored; a value that is not a number fails.
func TestParsePaced(t *testing.T) {
	text := `# HELP ticketledger_command_paced_seconds Time commands' answers waited.
# TYPE ticketledger_command_paced_seconds histogram
ticketledger_command_paced_seconds_bucket{projection="tickets",le="0.005"} 12
ticketledger_command_paced_seconds_bucket{projection="tickets",le="+Inf"} 266
ticketledger_command_paced_seconds_sum{projection="tickets"} 2.5
ticketledger_command_paced_seconds_count{projection="tickets"} 266
ticketledger_command_paced_seconds_sum{projection="other"} 0.5 1700000000000
ticketledger_command_paced_seconds_count{projection="other"} 4
ticketledger_command_paced_seconds_total_unrelated 99
ticketledger_command_duration_seconds_count{command="approveTask",outcome="ok"} 24000
`
	p, err := parsePaced(strings.NewReader(text))
	if err != nil || p.count != 270 || p.seconds != 3 {
		t.Fatalf("parsed %+v (%v), want 270 answers and 3 s", p, err)
	}
	if got := pacedLine(p.since(paced{count: 70, seconds: 1}), 1000, nil); got != "200 of 1000 answers waited for a read model past ticketd's --read-lag-bound, 10.0ms on average" {
		t.Fatalf("line %q", got)
	}
	if got := pacedLine(paced{}, 1000, nil); !strings.HasPrefix(got, "no answer waited") {
		t.Fatalf("line %q", got)
	}
	if got := pacedLine(paced{}, 0, errors.New("GET /metrics: 404 Not Found")); got != "not known: GET /metrics: 404 Not Found" {
		t.Fatalf("line %q", got)
	}
	if p, err := parsePaced(strings.NewReader("# none\n")); err != nil || p != (paced{}) {
		t.Fatalf("an exposition without the metric: %+v, %v", p, err)
	}
	for _, bad := range []string{
		"ticketledger_command_paced_seconds_count{projection=\"tickets\"} many\n",
		"ticketledger_command_paced_seconds_sum{projection=\"tickets\"}\n",
	} {
		if _, err := parsePaced(strings.NewReader(bad)); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

// TestScrapePaced: the paced answers are read from the server's /metrics; a server
// without /metrics is an error the summary reports.
func TestScrapePaced(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || r.Header.Get("Authorization") != "" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ticketledger_command_paced_seconds_sum{projection=\"tickets\"} 1.5\n"+
			"ticketledger_command_paced_seconds_count{projection=\"tickets\"} 60\n")
	}))
	defer srv.Close()
	ctx := context.Background()
	c := newClient(srv.URL, 1, time.Second)
	defer c.close()
	if p, err := scrapePaced(ctx, c); err != nil || p != (paced{count: 60, seconds: 1.5}) {
		t.Fatalf("scraped %+v (%v)", p, err)
	}
	none := newClient(srv.URL+"/none", 1, time.Second)
	defer none.close()
	if _, err := scrapePaced(ctx, none); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a server without /metrics: %v", err)
	}
}
