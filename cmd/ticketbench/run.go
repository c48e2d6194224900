package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ticketledger/ticketledger/internal/dbconn"
)

// Targets of the issue, with pgstore on the 2-core machine.
const (
	targetRate     = 2500
	targetP99      = 50 * time.Millisecond
	targetLagP99   = 200 * time.Millisecond
	catchUpTimeout = time.Minute
)

// run sets up the bench process and its principals, drives the load, waits for the read
// models, runs the INSERT baseline and prints the summary on stdout (progress on stderr).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	runID := "tb" + hex.EncodeToString(b[:])
	c := newClient(cfg.server, 2*cfg.concurrency, cfg.timeout)
	defer c.close()

	fmt.Fprintf(stderr, "ticketbench: setting up process %q and its principals on %s\n", processKey, cfg.server)
	actors, err := setup(ctx, c, cfg.token)
	if actors != nil {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := actors.revoke(rctx, c, cfg.token); err != nil {
				fmt.Fprintln(stderr, "ticketbench:", err)
			}
		}()
	}
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	fmt.Fprintf(stdout, "ticketbench run %s: %d tickets through process %q (%d nodes: 1 submit + %d approvals each) at concurrency %d against %s, capped at %s\n",
		runID, cfg.tickets, processKey, len(nodes), len(nodes), cfg.concurrency, cfg.server, cfg.duration)
	l := &load{cfg: cfg, c: c, actors: actors, runID: runID}
	pacedBefore, pacedErr := scrapePaced(ctx, c)
	res := l.drive(ctx, stderr)
	var pacedRun paced
	if pacedErr == nil {
		var after paced
		after, pacedErr = scrapePaced(ctx, c)
		pacedRun = after.since(pacedBefore)
	}
	var (
		caught   catchUp
		catchErr error
	)
	if !res.interrupted {
		caught, catchErr = projectionsCaughtUp(ctx, c, cfg.token, catchUpTimeout)
	}
	rate := reportLoad(stdout, cfg, res, caught, catchErr)
	if !res.interrupted {
		ok := res.stats.ok()
		fmt.Fprintf(stdout, "paced            %s\n", pacedLine(pacedRun, ok, pacedErr))
	}
	var errs []error
	if cfg.latencies != "" {
		if err := writeLatencies(cfg.latencies, res.stats); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(stderr, "ticketbench: every command's latency is in %s\n", cfg.latencies)
		}
	}
	if res.interrupted {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}

	var baseErr error
	if cfg.baselineTime > 0 {
		fmt.Fprintf(stderr, "ticketbench: raw INSERT baseline for %s at concurrency %d on %s\n", cfg.baselineTime, cfg.concurrency, dbconn.Redact(cfg.databaseURL))
		var base baselineResult
		base, baseErr = baseline(ctx, cfg.databaseURL, cfg.concurrency, cfg.baselineTime)
		if baseErr == nil {
			reportBaseline(stdout, cfg, base, rate)
		}
	}
	reportTargets(stdout, cfg, res, rate)

	if failed := res.stats.failed[kindSubmit] + res.stats.failed[kindApprove]; failed > 0 || res.broken > 0 {
		errs = append(errs, fmt.Errorf("%d commands failed, %d tickets did not complete", failed, res.broken))
	}
	if baseErr != nil {
		errs = append(errs, fmt.Errorf("baseline: %w", baseErr))
	}
	return errors.Join(errs...)
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 1) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// latencyLine formats "N ok, F failed  p50 …  p90 …  p99 …  max …": p90 beside p99 shows
// whether the tail is a few slow answers or a slow whole.
func latencyLine(ds []time.Duration, failed int) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return fmt.Sprintf("%d ok, %d failed", 0, failed)
	}
	return fmt.Sprintf("%d ok, %d failed  p50 %s  p90 %s  p99 %s  max %s", len(s), failed, ms(percentile(s, 0.50)), ms(percentile(s, 0.90)),
		ms(percentile(s, 0.99)), ms(s[len(s)-1]))
}

// reportLoad prints the load phase's figures and returns the commands per second.
func reportLoad(w io.Writer, cfg config, res loadResult, caught catchUp, catchErr error) float64 {
	ok := res.stats.ok()
	failed := res.stats.failed[kindSubmit] + res.stats.failed[kindApprove]
	rate := float64(ok) / res.elapsed.Seconds()
	fmt.Fprintf(w, "tickets          %d approved, %d failed, %d cut short by --duration in %.2fs: %.1f tickets/s\n",
		res.done, res.broken, max(0, res.unfinished), res.elapsed.Seconds(), float64(res.done)/res.elapsed.Seconds())
	fmt.Fprintf(w, "commands         %d ok, %d failed: %.1f commands/s\n", ok, failed, rate)
	all := res.stats.durations(latencyOf)
	for k := range kinds {
		fmt.Fprintf(w, "latency %-8s %s\n", kindNames[k], latencyLine(res.stats.durations(latencyOf, k), res.stats.failed[k]))
	}
	fmt.Fprintf(w, "latency all      %s\n", latencyLine(all, failed))
	if served, ok := serverTimes(res.stats.durations(func(s sample) time.Duration { return s.served })); ok {
		fmt.Fprintf(w, "server time      %s  (ticketd's own time for the same commands, from their Server-Timing headers: arrival to answer)\n", latencyLine(served, failed))
	}
	if stored, ok := serverTimes(res.stats.durations(func(s sample) time.Duration { return s.stored })); ok {
		fmt.Fprintf(w, "event store      %s  (the part of it spent appending to the event store, group commit included: Server-Timing \"store\")\n", latencyLine(stored, failed))
	}
	for _, e := range res.stats.errs {
		fmt.Fprintf(w, "error            %s\n", e)
	}
	if cfg.lagEvery > 0 {
		lags := slices.Clone(res.lags)
		slices.Sort(lags)
		if len(lags) > 0 {
			fmt.Fprintf(w, "projection lag   %d samples, %d failed  p50 %s  p99 %s  max %s  (command answered → GET /v1/tickets/{id}?min_position answered)\n",
				len(lags), res.lagFailures, ms(percentile(lags, 0.5)), ms(percentile(lags, 0.99)), ms(lags[len(lags)-1]))
		} else {
			fmt.Fprintf(w, "projection lag   no samples, %d failed\n", res.lagFailures)
		}
		for _, e := range res.lagErrs {
			fmt.Fprintf(w, "lag probe error  %s\n", e)
		}
	}
	switch {
	case res.interrupted:
	case catchErr != nil:
		fmt.Fprintf(w, "read models      %v\n", catchErr)
	default:
		fmt.Fprintf(w, "read models      caught up with the log %s\n", caught)
	}
	return rate
}

// serverTimes returns times, one of the Server-Timing durations of every successful
// command, and whether there are any and every answer gave it (none is negative).
func serverTimes(times []time.Duration) ([]time.Duration, bool) {
	if len(times) == 0 || slices.ContainsFunc(times, func(d time.Duration) bool { return d < 0 }) {
		return nil, false
	}
	return times, true
}

func reportBaseline(w io.Writer, cfg config, b baselineResult, rate float64) {
	s := slices.Clone(b.latency)
	slices.Sort(s)
	fmt.Fprintf(w, "baseline         raw single-row INSERT: %.1f transactions/s at concurrency %d (%d in %.2fs, p50 %s, p99 %s) on %s\n",
		b.rate(), cfg.concurrency, b.inserts, b.elapsed.Seconds(), ms(percentile(s, 0.5)), ms(percentile(s, 0.99)), dbconn.Redact(cfg.databaseURL))
	fmt.Fprintf(w, "ratio            %.3f commands per INSERT transaction (%.1f commands/s ÷ %.1f transactions/s)\n", rate/b.rate(), rate, b.rate())
}

func reportTargets(w io.Writer, cfg config, res loadResult, rate float64) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	all := res.stats.durations(latencyOf)
	slices.Sort(all)
	p99 := percentile(all, 0.99)
	line := fmt.Sprintf("targets          ≥ %d commands/s: %s (%.1f)", targetRate, verdict(rate >= targetRate), rate)
	if cfg.concurrency != 64 {
		line += fmt.Sprintf(" [the target is at 64 clients; this run used %d]", cfg.concurrency)
	}
	line += fmt.Sprintf("; p99 ≤ %s: %s (%s)", ms(targetP99), verdict(len(all) > 0 && p99 <= targetP99), ms(p99))
	if cfg.lagEvery > 0 {
		lags := slices.Clone(res.lags)
		slices.Sort(lags)
		lp := percentile(lags, 0.99)
		line += fmt.Sprintf("; projection lag p99 ≤ %s: %s (%s)", ms(targetLagP99), verdict(len(lags) > 0 && lp <= targetLagP99), ms(lp))
	}
	fmt.Fprintln(w, line)
}
