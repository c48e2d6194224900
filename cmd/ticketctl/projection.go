package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ticketledger/ticketledger/projections"
)

func projectionStatus(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("projection status")
	_, c, err := o.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	var out struct {
		Projections []struct {
			Name             string    `json:"name"`
			Checkpoint       string    `json:"checkpoint"`
			Head             string    `json:"head"`
			Healthy          bool      `json:"healthy"`
			Error            string    `json:"error"`
			Running          bool      `json:"running"`
			Active           bool      `json:"active"`
			CaughtUp         bool      `json:"caught_up"`
			EventsApplied    int64     `json:"events_applied"`
			LagEvents        int64     `json:"lag_events"`
			LagEventsAtLeast bool      `json:"lag_events_at_least"`
			LagSeconds       float64   `json:"lag_seconds"`
			UpdatedAt        time.Time `json:"updated_at"`
		} `json:"projections"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: "/v1/projections"}, &out)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tCHECKPOINT\tHEAD\tLAG EVENTS\tLAG TIME\tAPPLIED\tUPDATED\tERROR")
	for _, p := range out.Projections {
		state := "caught up"
		switch {
		case !p.Healthy:
			state = "UNHEALTHY"
		case !p.Running && p.LagEvents == 0 && !p.LagEventsAtLeast:
			// Run by another ticketd (--roles): its checkpoint, kept in PostgreSQL, tells.
			state = "caught up (projected elsewhere)"
		case !p.Running:
			state = "behind (projected elsewhere, or not at all)"
		case !p.Active:
			state = "standing by"
		case !p.CaughtUp:
			state = "catching up"
		}
		lag := count(p.LagEvents)
		if p.LagEventsAtLeast {
			lag = "≥" + lag
		}
		age := (time.Duration(p.LagSeconds * float64(time.Second))).Round(time.Millisecond)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, state, p.Checkpoint, orDash(p.Head), lag, age,
			count(p.EventsApplied), stamp(p.UpdatedAt), orDash(p.Error))
	}
	return tw.Flush()
}

func projectionRebuild(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("projection rebuild")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	s, err := o.openStores(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	runner, names, err := s.runner(o.stderr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	if !slices.Contains(names, name) {
		return usagef("projection rebuild: no projection %q: want one of %s", name, strings.Join(names, ", "))
	}
	if err := runner.Migrate(ctx); err != nil {
		return fmt.Errorf("read-model migrations: %w", err)
	}
	bar := newProgressBar(o.stderr, "rebuild "+name)
	var last projections.Progress
	err = runner.Rebuild(ctx, name, func(p projections.Progress) {
		last = p
		pr := progress{done: p.Done, total: p.Total, fraction: -1, unit: "events", rate: p.Rate, remaining: p.Remaining, note: string(p.Phase)}
		if p.Phase == projections.Replaying && p.Total < 0 {
			pr.note = fmt.Sprintf("replaying (%s applied)", count(p.Applied))
		}
		if p.Step != "" {
			pr.note += ": " + p.Step
		}
		bar.update(pr, p.Phase != projections.Replaying)
	})
	bar.finish()
	if err != nil {
		var ae *projections.ApplyError
		if errors.As(err, &ae) {
			return fmt.Errorf("rebuild %s stopped on an event it cannot apply; the live tables are unchanged: %w", name, err)
		}
		return fmt.Errorf("rebuild %s (the live tables are unchanged): %w", name, err)
	}
	fmt.Fprintf(o.stdout, "rebuilt projection %s: %s events applied, %s log events scanned in %s; checkpoint %s\n",
		name, count(last.Applied), count(last.Done), last.Elapsed.Round(time.Millisecond), last.Position)
	return nil
}
