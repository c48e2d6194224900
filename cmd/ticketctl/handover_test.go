package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketledger/ticketledger/internal/ticketdtest"
)

// TestPrincipalHandover hands a departed approver's work to a colleague, who can then
// decide it; a second run finds nothing left to move.
func TestPrincipalHandover(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{})
	env := envOf(s)
	shop, _ := setupRefund(t, env)
	ctl(t, env, "principal", "create", "wang", "--kind", "user", "--role", "approver").want(t, 0, "created principal wang")
	wang := strings.TrimSpace(ctl(t, env, "token", "issue", "wang").want(t, 0).stdout)
	var ids []string
	var last string
	for _, key := range []string{"SO-1", "SO-2", "SO-3"} {
		sub := call(t, s, "POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": key,
			"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}, http.StatusCreated)
		ids, last = append(ids, sub["ticket_id"].(string)), sub["position"].(string)
	}
	call(t, s, "GET", "/v1/tickets/"+ids[2]+"?min_position="+last, s.AdminToken, nil, http.StatusOK)

	ctl(t, env, "principal", "disable", "xiaoli", "--reason", "left the company").want(t, 0, "disabled principal xiaoli (user)",
		"xiaoli still holds 3 pending tasks; ticketctl principal handover xiaoli --to USER")
	list := ctl(t, env, "principal", "list").want(t, 0)
	if !regexp.MustCompile(`xiaoli\s.*\strue\s`).MatchString(list.stdout) {
		t.Fatalf("principal list after the disable:\n%s", list.stdout)
	}
	ctl(t, env, "principal", "handover", "xiaoli").want(t, 2, "--to must name the user")
	ctl(t, env, "principal", "handover", "xiaoli", "--to", "nobody").want(t, 1, "hand over the work of xiaoli: 422", "to: no user nobody")
	out := ctl(t, env, "principal", "handover", "xiaoli", "--to", "wang", "--comment", "xiaoli has left").want(t, 0,
		"handed over xiaoli's work on 3 tickets to wang; 0 skipped, 0 failed")
	for _, id := range ids {
		if !strings.Contains(out.stdout, "ticket "+id+": xiaoli's work is now wang's") {
			t.Fatalf("ticket %s missing from the handover:\n%s", id, out.stdout)
		}
	}
	approved := call(t, s, "POST", "/v1/tickets/"+ids[0]+"/approve", wang, map[string]any{}, http.StatusOK)
	if approved["current_node"] != "finance" {
		t.Fatalf("wang's approval: %v", approved)
	}
	ctl(t, env, "principal", "handover", "xiaoli", "--to", "wang").want(t, 0, "handed over xiaoli's work on 0 tickets to wang")
	ctl(t, env, "principal", "enable", "xiaoli").want(t, 0, "enabled principal xiaoli (user)")
	ctl(t, env, "principal", "disable", "nobody").want(t, 1, "disable nobody: 404")
}
