package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Names of what ticketbench creates on the server.
const (
	processKey   = "ticketbench"
	systemName   = "ticketbench"
	systemID     = "ticketbench-system"
	submitterID  = "ticketbench-customer"
	approverBase = "ticketbench-approver-"
)

// nodes are the keys of the bench process's nodes, in order.
var nodes = []string{"first", "second", "third"}

// processDefinition is the bench process: three nodes, each handled by one approver
// through a role of its own.
const processDefinition = `# ticketbench's load process: three approval nodes, one approver each.
key: ticketbench
name: ticketbench load process
description: Published by ticketbench; each ticket is submitted and approved at three nodes.
system: ticketbench
fields:
  subject: {type: text, label: Subject, required: true, max_length: 200}
  amount: {type: money, label: Amount, currency: CNY, scale: 2, min: "0.01", required: true}
  note: {type: text, label: Note, max_length: 1000}
nodes:
  - key: first
    name: First review
    handlers: [{role: ticketbench-first}]
    visible: [subject, amount, note]
  - key: second
    name: Second review
    handlers: [{role: ticketbench-second}]
    visible: [subject, amount]
    reject: first
  - key: third
    name: Final approval
    handlers: [{role: ticketbench-third}]
    visible: [subject, amount]
    reject: second
`

// actors are the tokens the load uses.
type actors struct {
	system    string
	approvers []string // one per node
	// issued lists the tokens to revoke at the end: principal and token id.
	issued [][2]string
}

// setup publishes the process, creates the principals (once: an identical principal is
// left as it is) and issues their tokens.
func setup(ctx context.Context, c *client, admin string) (*actors, error) {
	var who struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles"`
	}
	if _, err := c.call(ctx, "GET", "/v1/me", admin, nil, "", &who); err != nil {
		return nil, fmt.Errorf("the admin token: %w", err)
	}
	if _, err := c.call(ctx, "PUT", "/v1/processes/"+processKey, admin, []byte(processDefinition), "application/yaml", nil); err != nil {
		return nil, fmt.Errorf("publish the bench process: %w", err)
	}
	a := &actors{}
	create := func(body map[string]any) error {
		_, err := c.call(ctx, "POST", "/v1/principals", admin, body, "", nil)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			return fmt.Errorf("principal %s exists with other settings than ticketbench gives it: %w", body["id"], err)
		}
		return err
	}
	issue := func(id string) (string, error) {
		var tok struct {
			Token   string `json:"token"`
			TokenID string `json:"token_id"`
		}
		body := map[string]any{"label": "ticketbench " + time.Now().UTC().Format(time.RFC3339), "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
		if _, err := c.call(ctx, "POST", "/v1/principals/"+id+"/tokens", admin, body, "", &tok); err != nil {
			return "", fmt.Errorf("issue a token for %s: %w", id, err)
		}
		a.issued = append(a.issued, [2]string{id, tok.TokenID})
		return tok.Token, nil
	}
	if err := create(map[string]any{"id": systemID, "kind": "service", "name": "ticketbench's submitting system", "system": systemName, "roles": []string{"system"}}); err != nil {
		return a, err
	}
	var err error
	if a.system, err = issue(systemID); err != nil {
		return a, err
	}
	for i, n := range nodes {
		id := fmt.Sprintf("%s%d", approverBase, i+1)
		if err := create(map[string]any{"id": id, "kind": "user", "name": "ticketbench approver of node " + n, "roles": []string{"approver", "ticketbench-" + n}}); err != nil {
			return a, err
		}
		tok, err := issue(id)
		if err != nil {
			return a, err
		}
		a.approvers = append(a.approvers, tok)
	}
	return a, nil
}

// revoke revokes the tokens setup issued.
func (a *actors) revoke(ctx context.Context, c *client, admin string) error {
	var errs []error
	for _, t := range a.issued {
		if _, err := c.call(ctx, "DELETE", "/v1/principals/"+t[0]+"/tokens/"+t[1], admin, nil, "", nil); err != nil {
			errs = append(errs, fmt.Errorf("revoke the token of %s: %w", t[0], err))
		}
	}
	return errors.Join(errs...)
}
