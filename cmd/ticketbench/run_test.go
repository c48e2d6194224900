package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/internal/ticketdtest"
)

// TestRun drives 20 tickets at concurrency 4 through an in-process ticketd on pgstore and
// checks the summary's figures, then runs again (the process and principals exist).
func TestRun(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{})
	env := map[string]string{"TICKETLEDGER_SERVER": s.URL, "TICKETLEDGER_TOKEN": s.AdminToken, "DATABASE_URL": s.DatabaseURL}
	for round := range 2 {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		args := []string{"--tickets", "20", "--concurrency", "4", "--lag-every", "3", "--baseline-time", "500ms", "--progress", "100ms"}
		csv := filepath.Join(t.TempDir(), "latencies.csv")
		if round == 1 {
			args = append(args, "--latencies", csv)
		}
		err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
		cancel()
		if testing.Verbose() {
			t.Logf("round %d\nstdout:\n%s\nstderr:\n%s", round, out.String(), errOut.String())
		}
		if err != nil {
			t.Fatalf("round %d: %v\nstdout:\n%s\nstderr:\n%s", round, err, out.String(), errOut.String())
		}
		sum := out.String()
		for _, re := range []string{
			`(?m)^tickets +20 approved, 0 failed, 0 cut short by --duration in [0-9.]+s: ([0-9.]+) tickets/s$`,
			`(?m)^commands +80 ok, 0 failed: ([0-9.]+) commands/s$`,
			`(?m)^latency submit +20 ok, 0 failed  p50 ([0-9.]+)ms  p90 [0-9.]+ms  p99 ([0-9.]+)ms  max [0-9.]+ms$`,
			`(?m)^latency approve +60 ok, 0 failed  p50 ([0-9.]+)ms  p90 [0-9.]+ms  p99 ([0-9.]+)ms  max [0-9.]+ms$`,
			`(?m)^server time +80 ok, 0 failed  p50 ([0-9.]+)ms  p90 [0-9.]+ms  p99 ([0-9.]+)ms  max [0-9.]+ms  \(ticketd's own time`,
			`(?m)^event store +80 ok, 0 failed  p50 ([0-9.]+)ms  p90 [0-9.]+ms  p99 ([0-9.]+)ms  max [0-9.]+ms  \(the part of it spent appending`,
			`(?m)^projection lag +2[0-9] samples, 0 failed  p50 ([0-9.]+)ms  p99 ([0-9.]+)ms`,
			`(?m)^read models +caught up with the log [0-9.]+ms after the last command \(delegations [0-9.]+ms, reminders [0-9.]+ms, tickets [0-9.]+ms\)$`,
			`(?m)^paced +(no answer waited for a read model \(ticketd's --read-lag-bound\)|[0-9]+ of 80 answers waited for a read model past ticketd's --read-lag-bound, [0-9.]+ms on average)$`,
			`(?m)^baseline +raw single-row INSERT: ([0-9.]+) transactions/s at concurrency 4 \(([0-9]+) in`,
			`(?m)^ratio +([0-9.]+) commands per INSERT transaction`,
			`(?m)^targets +≥ 2500 commands/s: (met|MISSED) \([0-9]+\.[0-9]\) \[the target is at 64 clients; this run used 4\]; p99 ≤ 50.0ms: (met|MISSED) \([0-9.]+ms\); projection lag p99 ≤ 200.0ms: (met|MISSED) \([0-9.]+ms\)$`,
		} {
			m := regexp.MustCompile(re).FindStringSubmatch(sum)
			if m == nil {
				t.Fatalf("round %d: the summary lacks %s:\n%s", round, re, sum)
			}
			for _, g := range m[1:] {
				if f, err := strconv.ParseFloat(g, 64); err == nil && f <= 0 {
					t.Fatalf("round %d: a zero figure in %q", round, m[0])
				}
			}
		}
		if !strings.Contains(errOut.String(), "commands/s") {
			t.Fatalf("no progress on stderr:\n%s", errOut.String())
		}
		if round == 1 {
			checkLatencies(t, csv, 20, 60)
		}
	}
}

// checkLatencies checks a --latencies file: its header, then a row per command in the
// order they were sent, submits and approvals as many as given, every latency positive,
// the server's time for each positive and within it, and the read-model wait and the
// event store's time within the server's.
func checkLatencies(t *testing.T, path string, submits, approvals int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if lines[0] != "started_ms,kind,latency_ms,server_ms,paced_ms,store_ms" {
		t.Fatalf("--latencies header %q", lines[0])
	}
	count, last := map[string]int{}, -1.0
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 6 {
			t.Fatalf("--latencies row %q: want 6 columns", l)
		}
		started, err1 := strconv.ParseFloat(f[0], 64)
		latency, err2 := strconv.ParseFloat(f[2], 64)
		served, err3 := strconv.ParseFloat(f[3], 64)
		paced, err4 := strconv.ParseFloat(f[4], 64)
		stored, err5 := strconv.ParseFloat(f[5], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || started < last || latency <= 0 || served <= 0 ||
			served > latency || paced < 0 || paced > served || stored <= 0 || stored > served {
			t.Fatalf("--latencies row %q after a command sent at %.3f ms", l, last)
		}
		last = started
		count[f[1]]++
	}
	if count["submit"] != submits || count["approve"] != approvals || len(count) != 2 {
		t.Fatalf("--latencies rows by kind %v, want %d submit and %d approve", count, submits, approvals)
	}
}

// TestBenchProcess checks that the bench process is a valid definition of three nodes.
func TestBenchProcess(t *testing.T) {
	def, err := process.Parse([]byte(processDefinition))
	if err != nil {
		t.Fatal(err)
	}
	if def.Key() != processKey {
		t.Fatalf("key %q", def.Key())
	}
	for _, n := range nodes {
		if _, _, ok := def.Node(n); !ok {
			t.Fatalf("no node %q", n)
		}
	}
}

func TestConfig(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig([]string{"--token", "x"}, none, io.Discard)
	if err != nil || c.server != DefaultServer || c.tickets != DefaultTickets || c.concurrency != DefaultConcurrency || c.databaseURL != DefaultDatabaseURL {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = parseConfig(nil, func(k string) string {
		return map[string]string{"TICKETLEDGER_SERVER": "http://10.0.0.1:9090/", "TICKETLEDGER_TOKEN": "t", "DATABASE_URL": "postgres://h/db"}[k]
	}, io.Discard)
	if err != nil || c.server != "http://10.0.0.1:9090" || c.token != "t" || c.databaseURL != "postgres://h/db" {
		t.Fatalf("environment: %+v %v", c, err)
	}
	for _, args := range [][]string{{}, {"--token", "x", "--tickets", "0"}, {"--token", "x", "--concurrency", "0"},
		{"--token", "x", "--server", "127.0.0.1:8080"}, {"--token", "x", "--server", "http://h/v1"}, {"--token", "x", "extra"},
		{"--token", "x", "--duration", "0s"}, {"--token", "x", "--lag-every", "-1"}} {
		_, err := parseConfig(args, none, io.Discard)
		if _, ok := err.(*usageError); !ok {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 %s", p)
	}
	if p := percentile(ds, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 %s", p)
	}
	if p := percentile(ds[:1], 0.99); p != time.Millisecond {
		t.Errorf("p99 of one %s", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of none %s", p)
	}
}
