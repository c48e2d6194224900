package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// principalView is a principal as ticketd answers it.
type principalView struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	System   string   `json:"system"`
	Roles    []string `json:"roles"`
	Groups   []string `json:"groups"`
	Disabled bool     `json:"disabled"`
	Tokens   []struct {
		ID        string    `json:"id"`
		Label     string    `json:"label"`
		ExpiresAt time.Time `json:"expires_at"`
		IssuedAt  time.Time `json:"issued_at"`
		RevokedAt time.Time `json:"revoked_at"`
	} `json:"tokens"`
	Position string `json:"position"`
}

func (p principalView) summary() string {
	return fmt.Sprintf("principal %s (%s): roles %s; groups %s", p.ID, p.Kind, list(p.Roles), list(p.Groups))
}

func principalCreate(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("principal create")
	kind := fs.String("kind", "", "user or service (a business system's client) (required)")
	name := fs.String("name", "", "display name")
	system := fs.String("system", "", "for a service: the business system it speaks for")
	department := fs.String("department", "", "department, for routing")
	var roles, groups stringList
	fs.Var(&roles, "role", "a role to grant (repeatable, or comma-separated)")
	fs.Var(&groups, "group", "a group to join (repeatable, or comma-separated)")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *kind != "user" && *kind != "service" {
		return usagef("principal create: --kind must be user or service, not %q", *kind)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	body := map[string]any{"id": pos[0], "kind": *kind}
	for k, v := range map[string]string{"name": *name, "system": *system, "department": *department} {
		if v != "" {
			body[k] = v
		}
	}
	if roles != nil {
		body["roles"] = []string(roles)
	}
	if groups != nil {
		body["groups"] = []string(groups)
	}
	var p principalView
	status, raw, err := c.do(ctx, request{method: "POST", path: "/v1/principals", body: body}, &p)
	if err != nil {
		return fmt.Errorf("create principal %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	if status == 201 {
		fmt.Fprintf(o.stdout, "created %s\n", p.summary())
	} else {
		fmt.Fprintf(o.stdout, "unchanged: %s already exists as asked\n", p.summary())
	}
	return nil
}

func principalList(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("principal list")
	_, c, err := o.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	var out struct {
		Principals []principalView `json:"principals"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: "/v1/principals"}, &out)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSYSTEM\tROLES\tGROUPS\tTOKENS\tDISABLED\tNAME")
	for _, p := range out.Principals {
		live := 0
		for _, t := range p.Tokens {
			if t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || t.ExpiresAt.After(now)) {
				live++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%v\t%s\n", p.ID, p.Kind, orDash(p.System), list(p.Roles), list(p.Groups), live, p.Disabled, p.Name)
	}
	return tw.Flush()
}

// principalSwitch returns the command that disables (or, with enable, enables) a
// principal: a disabled principal cannot authenticate and is routed no new work.
func principalSwitch(enable bool) func(ctx context.Context, o *options, args []string) error {
	name, verb := "principal disable", "disable"
	if enable {
		name, verb = "principal enable", "enable"
	}
	return func(ctx context.Context, o *options, args []string) error {
		fs := o.flagSet(name)
		reason := fs.String("reason", "", "why, recorded in the principal's history")
		pos, c, err := o.connect(fs, args, 1, 1)
		if err != nil {
			return err
		}
		var p principalView
		_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/principals/" + url.PathEscape(pos[0]) + "/" + verb,
			body: map[string]string{"reason": *reason}}, &p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", verb, pos[0], err)
		}
		if o.json {
			return printJSON(o.stdout, raw)
		}
		fmt.Fprintf(o.stdout, "%sd %s\n", verb, p.summary())
		if !enable && p.Kind == "user" {
			// Their work does not move by itself: say what waits for them.
			var counts struct {
				Pending int `json:"pending"`
			}
			path := "/v1/workbench?principal=" + url.QueryEscape(pos[0]) + "&min_position=" + url.QueryEscape(p.Position)
			if _, _, err := c.do(ctx, request{method: "GET", path: path}, &counts); err == nil && counts.Pending > 0 {
				fmt.Fprintf(o.stdout, "%s still holds %s; ticketctl principal handover %s --to USER hands their work to a colleague\n",
					pos[0], plural(counts.Pending, "pending task", "pending tasks"), pos[0])
			}
		}
		return nil
	}
}

// principalRole returns the command that grants (or, with revoke, revokes) a role.
func principalRole(revoke bool) func(ctx context.Context, o *options, args []string) error {
	name, method, verb := "principal grant-role", "PUT", "granted"
	if revoke {
		name, method, verb = "principal revoke-role", "DELETE", "revoked"
	}
	return func(ctx context.Context, o *options, args []string) error {
		fs := o.flagSet(name)
		pos, c, err := o.connect(fs, args, 2, 2)
		if err != nil {
			return err
		}
		var p principalView
		_, raw, err := c.do(ctx, request{method: method, path: "/v1/principals/" + url.PathEscape(pos[0]) + "/roles/" + url.PathEscape(pos[1])}, &p)
		if err != nil {
			return fmt.Errorf("%s %s %s: %w", strings.TrimPrefix(name, "principal "), pos[0], pos[1], err)
		}
		if o.json {
			return printJSON(o.stdout, raw)
		}
		fmt.Fprintf(o.stdout, "%s role %s: %s\n", verb, pos[1], p.summary())
		return nil
	}
}

func tokenIssue(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("token issue")
	label := fs.String("label", "", "what the token is for")
	expires := fs.String("expires", "", "when the token expires: a duration from now (720h) or an RFC 3339 time; default never")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if *label != "" {
		body["label"] = *label
	}
	if *expires != "" {
		at, err := expiry(*expires, time.Now())
		if err != nil {
			return err
		}
		body["expires_at"] = at.UTC().Format(time.RFC3339)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var out struct {
		Principal string    `json:"principal"`
		Token     string    `json:"token"`
		TokenID   string    `json:"token_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/principals/" + url.PathEscape(pos[0]) + "/tokens", body: body}, &out)
	if err != nil {
		return fmt.Errorf("issue a token for %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	exp := "never expires"
	if !out.ExpiresAt.IsZero() {
		exp = "expires " + out.ExpiresAt.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(o.stderr, "token %s for %s (%s); its secret is shown this once:\n", out.TokenID, out.Principal, exp)
	fmt.Fprintln(o.stdout, out.Token)
	return nil
}

// expiry reads --expires: a duration from now or an RFC 3339 time.
func expiry(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("token issue: --expires %s: want a positive duration", v)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("token issue: --expires %q: want a duration such as 720h or an RFC 3339 time such as 2027-01-31T00:00:00Z", v)
	}
	return t, nil
}

// tokenList prints a principal's tokens, the revoked and expired ones too: their ids are
// what token revoke takes.
func tokenList(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("token list")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var p principalView
	_, raw, err := c.do(ctx, request{method: "GET", path: "/v1/principals/" + url.PathEscape(pos[0])}, &p)
	if err != nil {
		return fmt.Errorf("tokens of %s: %w", pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN_ID\tSTATE\tISSUED\tEXPIRES\tLABEL")
	for _, t := range p.Tokens {
		state, expires := "live", "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Local().Format(time.RFC3339)
			if !t.ExpiresAt.After(now) {
				state = "expired"
			}
		}
		if !t.RevokedAt.IsZero() {
			state = "revoked " + t.RevokedAt.Local().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, state, t.IssuedAt.Local().Format(time.RFC3339), expires, orDash(t.Label))
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("token revoke")
	pos, c, err := o.connect(fs, args, 2, 2)
	if err != nil {
		return err
	}
	var p principalView
	_, raw, err := c.do(ctx, request{method: "DELETE", path: "/v1/principals/" + url.PathEscape(pos[0]) + "/tokens/" + url.PathEscape(pos[1])}, &p)
	if err != nil {
		return fmt.Errorf("revoke token %s of %s: %w", pos[1], pos[0], err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	fmt.Fprintf(o.stdout, "revoked token %s of %s\n", pos[1], pos[0])
	return nil
}

// principalHandover hands a principal's work on every open ticket to another user, call
// after call (the server changes at most 100 tickets at a time), printing each ticket's
// outcome.
func principalHandover(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("principal handover")
	to := fs.String("to", "", "the user who takes the work over (required)")
	comment := fs.String("comment", "", "a comment recorded on each ticket")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *to == "" {
		return usagef("principal handover: --to must name the user who takes the work over")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	type item struct {
		TicketID string `json:"ticket_id"`
		Problem  *struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		} `json:"problem"`
	}
	var handed, skipped, failed int
	var after, position string
	for {
		var out struct {
			HandedOver int    `json:"handed_over"`
			Skipped    int    `json:"skipped"`
			Failed     int    `json:"failed"`
			More       bool   `json:"more"`
			Next       string `json:"next"`
			Position   string `json:"position"`
			Results    []item `json:"results"`
		}
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if position != "" {
			q.Set("min_position", position)
		}
		path := "/v1/principals/" + url.PathEscape(pos[0]) + "/handover"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		_, raw, err := c.do(ctx, request{method: "POST", path: path, body: map[string]string{"to": *to, "comment": *comment}}, &out)
		if err != nil {
			return fmt.Errorf("hand over the work of %s: %w", pos[0], err)
		}
		if o.json {
			if err := printJSON(o.stdout, raw); err != nil {
				return err
			}
		} else {
			for _, it := range out.Results {
				if it.Problem != nil {
					fmt.Fprintf(o.stdout, "ticket %s: unchanged: %s (%s)\n", it.TicketID, it.Problem.Detail, it.Problem.Code)
				} else {
					fmt.Fprintf(o.stdout, "ticket %s: %s's work is now %s's\n", it.TicketID, pos[0], *to)
				}
			}
		}
		handed, skipped, failed = handed+out.HandedOver, skipped+out.Skipped, failed+out.Failed
		if out.Position != "" {
			position = out.Position
		}
		if !out.More {
			break
		}
		after = out.Next
	}
	if !o.json {
		fmt.Fprintf(o.stdout, "handed over %s's work on %s to %s; %d skipped, %d failed\n", pos[0], plural(handed, "ticket", "tickets"), *to, skipped, failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %s's tickets were not handed over", failed, pos[0])
	}
	return nil
}
