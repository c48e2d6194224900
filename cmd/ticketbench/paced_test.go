package main

import (
	"errors"
	"strings"
	"testing"
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
