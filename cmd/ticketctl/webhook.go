package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// endpointView is a webhook endpoint as ticketd answers it.
type endpointView struct {
	ID             string    `json:"id"`
	System         string    `json:"system"`
	URL            string    `json:"url"`
	Description    string    `json:"description"`
	Processes      []string  `json:"processes"`
	Outcomes       []string  `json:"outcomes"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Secret         string    `json:"secret"`
	Secrets        []struct {
		Serial    int       `json:"serial"`
		CreatedAt time.Time `json:"created_at"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"secrets"`
}

func (e endpointView) state() string {
	if e.Enabled {
		return "enabled"
	}
	if e.DisabledReason != "" {
		return "disabled (" + e.DisabledReason + ")"
	}
	return "disabled"
}

// deliveryView is a delivery with its attempts, newest first.
type deliveryView struct {
	WebhookID    string    `json:"webhook_id"`
	EndpointID   string    `json:"endpoint_id"`
	TicketID     string    `json:"ticket_id"`
	Outcome      string    `json:"outcome"`
	State        string    `json:"state"`
	AttemptCount int       `json:"attempt_count"`
	LastStatus   int       `json:"last_status"`
	LastError    string    `json:"last_error"`
	NextAttempt  time.Time `json:"next_attempt_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Attempts     []struct {
		Number    int       `json:"number"`
		At        time.Time `json:"at"`
		Status    int       `json:"status"`
		LatencyMS float64   `json:"latency_ms"`
		Error     string    `json:"error"`
	} `json:"attempts"`
}

func statusText(s int) string {
	if s == 0 {
		return "-"
	}
	return strconv.Itoa(s)
}

func webhookPath(id string, rest ...string) string {
	return "/v1/webhooks/" + url.PathEscape(id) + strings.Join(rest, "")
}

func webhookRegister(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook register")
	system := fs.String("system", "", "the business system whose tickets' outcomes the endpoint receives (required)")
	target := fs.String("url", "", "the endpoint's http or https URL (required)")
	description := fs.String("description", "", "what the endpoint is")
	var processes, outcomes stringList
	fs.Var(&processes, "process", "only tickets of this process (repeatable, or comma-separated; default all)")
	fs.Var(&outcomes, "outcome", "only this outcome: approved, rejected, withdrawn (repeatable, or comma-separated; default all)")
	if _, err := o.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *system == "" || *target == "" {
		return usagef("webhook register: --system and --url are required")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	body := map[string]any{"system": *system, "url": *target}
	if *description != "" {
		body["description"] = *description
	}
	if processes != nil {
		body["processes"] = []string(processes)
	}
	if outcomes != nil {
		body["outcomes"] = []string(outcomes)
	}
	var e endpointView
	_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/webhooks", body: body}, &e)
	if err != nil {
		return fmt.Errorf("register a webhook for %s: %w", *system, err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	fmt.Fprintf(o.stderr, "registered endpoint %s: the outcomes of system %s (outcomes: %s; processes: %s) go to %s\n"+
		"its signing secret is shown this once:\n", e.ID, e.System, orAll(e.Outcomes), orAll(e.Processes), e.URL)
	fmt.Fprintln(o.stdout, e.Secret)
	return nil
}

func webhookList(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook list")
	system := fs.String("system", "", "only this business system's endpoints")
	_, c, err := o.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	path := "/v1/webhooks"
	if *system != "" {
		path += "?system=" + url.QueryEscape(*system)
	}
	var out struct {
		Endpoints []endpointView `json:"endpoints"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: path}, &out)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSYSTEM\tSTATE\tPROCESSES\tOUTCOMES\tURL")
	for _, e := range out.Endpoints {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.System, e.state(), list(e.Processes), list(e.Outcomes), e.URL)
	}
	return tw.Flush()
}

func printEndpoint(o *options, e endpointView) {
	fmt.Fprintf(o.stdout, "endpoint %s\n  system:      %s\n  url:         %s\n  state:       %s\n  processes:   %s\n  outcomes:    %s\n",
		e.ID, e.System, e.URL, e.state(), list(e.Processes), list(e.Outcomes))
	if e.Description != "" {
		fmt.Fprintf(o.stdout, "  description: %s\n", e.Description)
	}
	fmt.Fprintf(o.stdout, "  created:     %s\n  updated:     %s\n", stamp(e.CreatedAt), stamp(e.UpdatedAt))
	for _, s := range e.Secrets {
		until := "current"
		if !s.ExpiresAt.IsZero() {
			until = "signs until " + stamp(s.ExpiresAt)
		}
		fmt.Fprintf(o.stdout, "  secret #%d:   created %s, %s\n", s.Serial, stamp(s.CreatedAt), until)
	}
}

func webhookShow(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook show")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var e endpointView
	_, raw, err := c.do(ctx, request{method: "GET", path: webhookPath(pos[0])}, &e)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	printEndpoint(o, e)
	return nil
}

// webhookDelete deletes an endpoint: the way to stop one for good.
func webhookDelete(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook delete")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, _, err := c.do(ctx, request{method: "DELETE", path: webhookPath(pos[0])}, nil); err != nil {
		return fmt.Errorf("delete webhook %s: %w", pos[0], err)
	}
	fmt.Fprintf(o.stdout, "deleted endpoint %s\n", pos[0])
	return nil
}

// webhookSwitch returns the command that enables (or, with disable, disables) an endpoint.
func webhookSwitch(disable bool) func(ctx context.Context, o *options, args []string) error {
	name, verb := "webhook enable", "enable"
	if disable {
		name, verb = "webhook disable", "disable"
	}
	return func(ctx context.Context, o *options, args []string) error {
		fs := o.flagSet(name)
		var reason *string
		if disable {
			reason = fs.String("reason", "", "why, for the record")
		}
		pos, c, err := o.connect(fs, args, 1, 1)
		if err != nil {
			return err
		}
		req := request{method: "POST", path: webhookPath(pos[0], "/", verb)}
		if reason != nil && *reason != "" {
			req.body = map[string]any{"reason": *reason}
		}
		var e endpointView
		_, raw, err := c.do(ctx, req, &e)
		if err != nil {
			return fmt.Errorf("%s webhook %s: %w", verb, pos[0], err)
		}
		if o.json {
			return printJSON(o.stdout, raw)
		}
		fmt.Fprintf(o.stdout, "endpoint %s (%s → %s): %s\n", e.ID, e.System, e.URL, e.state())
		return nil
	}
}

func webhookRotate(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook rotate")
	overlap := fs.Duration("overlap", 24*time.Hour, "how long the previous secrets keep signing beside the new one (0s: retire them now)")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *overlap < 0 {
		return usagef("webhook rotate: --overlap %s: want 0s or more", *overlap)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var out struct {
		Secret            string    `json:"secret"`
		PreviousExpiresAt time.Time `json:"previous_expires_at"`
	}
	_, raw, err := c.do(ctx, request{method: "POST", path: webhookPath(pos[0], "/rotate"), body: map[string]any{"overlap": overlap.String()}}, &out)
	if err != nil {
		return fmt.Errorf("rotate the secret of webhook %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	fmt.Fprintf(o.stderr, "new secret for endpoint %s; the previous ones sign until %s; it is shown this once:\n", pos[0], stamp(out.PreviousExpiresAt))
	fmt.Fprintln(o.stdout, out.Secret)
	return nil
}

// printDeliveries writes one line per delivery; with attempts, one line per attempt under it.
func printDeliveries(o *options, ds []deliveryView, attempts bool) error {
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	if attempts {
		fmt.Fprintln(tw, "WEBHOOK-ID\tENDPOINT\tSTATE\tATTEMPT\tAT\tSTATUS\tLATENCY\tERROR")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", d.WebhookID, d.EndpointID, d.State)
			for _, a := range d.Attempts {
				fmt.Fprintf(tw, "\t\t\t#%d\t%s\t%s\t%.1fms\t%s\n", a.Number, stamp(a.At), statusText(a.Status), a.LatencyMS, orDash(a.Error))
			}
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "WEBHOOK-ID\tTICKET\tOUTCOME\tSTATE\tATTEMPTS\tLAST-STATUS\tUPDATED\tLAST-ERROR")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.WebhookID, d.TicketID, d.Outcome, d.State, d.AttemptCount,
			statusText(d.LastStatus), stamp(d.UpdatedAt), orDash(d.LastError))
	}
	return tw.Flush()
}

func webhookDeliveries(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook deliveries")
	state := fs.String("state", "", "only deliveries in this state: pending, delivered or dead")
	limit := fs.Int("limit", 100, "at most this many, newest first (up to 1000)")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usagef("webhook deliveries: --limit %d: want 1 to 1000", *limit)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *state != "" {
		q.Set("state", *state)
	}
	var out struct {
		Deliveries []deliveryView `json:"deliveries"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: webhookPath(pos[0], "/deliveries?", q.Encode())}, &out)
	if err != nil {
		return fmt.Errorf("deliveries of webhook %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	return printDeliveries(o, out.Deliveries, false)
}

func webhookAttempts(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook attempts")
	ticket := fs.String("ticket", "", "the ticket whose deliveries and attempts to show (required)")
	if _, err := o.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *ticket == "" {
		return usagef("webhook attempts: --ticket is required")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var out struct {
		Outcomes []struct {
			Outcome   string    `json:"outcome"`
			DecidedAt time.Time `json:"decided_at"`
			Execution *struct {
				Status     string    `json:"status"`
				Detail     string    `json:"detail"`
				ReportedBy string    `json:"reported_by"`
				At         time.Time `json:"at"`
				WebhookID  string    `json:"webhook_id"`
			} `json:"execution"`
		} `json:"outcomes"`
		Deliveries []deliveryView `json:"deliveries"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: "/v1/tickets/" + url.PathEscape(*ticket) + "/deliveries"}, &out)
	if err != nil {
		return fmt.Errorf("deliveries of ticket %s: %w", *ticket, err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	for _, oc := range out.Outcomes {
		fmt.Fprintf(o.stdout, "outcome %s, decided %s", oc.Outcome, stamp(oc.DecidedAt))
		if x := oc.Execution; x != nil {
			fmt.Fprintf(o.stdout, "; execution %s by %s at %s", x.Status, x.ReportedBy, stamp(x.At))
			if x.WebhookID != "" {
				fmt.Fprintf(o.stdout, " (answering webhook %s)", x.WebhookID)
			}
			if x.Detail != "" {
				fmt.Fprintf(o.stdout, ": %s", x.Detail)
			}
		}
		fmt.Fprintln(o.stdout)
	}
	if len(out.Deliveries) == 0 {
		fmt.Fprintf(o.stdout, "no deliveries for ticket %s\n", *ticket)
		return nil
	}
	return printDeliveries(o, out.Deliveries, true)
}

func webhookRedeliver(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook redeliver")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var d deliveryView
	_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/deliveries/" + url.PathEscape(pos[0]) + "/redeliver"}, &d)
	if err != nil {
		return fmt.Errorf("redeliver %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	fmt.Fprintf(o.stdout, "delivery %s of ticket %s to endpoint %s: %s, sent again with the same webhook-id\n", d.WebhookID, d.TicketID, d.EndpointID, d.State)
	return nil
}

func webhookRedeliverDead(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook redeliver-dead")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var out struct {
		Redelivered int `json:"redelivered"`
	}
	_, raw, err := c.do(ctx, request{method: "POST", path: webhookPath(pos[0], "/redeliver-dead")}, &out)
	if err != nil {
		return fmt.Errorf("redeliver the dead deliveries of webhook %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	fmt.Fprintf(o.stdout, "redelivering %d dead deliveries of endpoint %s\n", out.Redelivered, pos[0])
	return nil
}

// orAll lists an endpoint's filter as list does, "all" when it has none.
func orAll(s []string) string {
	if len(s) == 0 {
		return "all"
	}
	return list(s)
}
