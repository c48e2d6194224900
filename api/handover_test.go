package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestHandoverMovesADepartedApproversWork: an approver leaves with tasks pending and
// tickets whose later nodes name them. Before, nobody could move the tasks (the admin was
// refused as no handler of the node) and a ticket returning to their node would wait for
// them again. Now the admin reassigns one task by its id, or hands over all their work:
// pending tasks, and their place in every open ticket's route; tasks they see only as
// someone's delegate stay where they are, and each ticket's history records the change.
func TestHandoverMovesADepartedApproversWork(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, fang, _ := s.refundCast()
		wang := s.principal("wang", "user", "", "approver")
		ids := make([]string, 4)
		for i := range ids {
			sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "SO-" + string(rune('1'+i)),
				"submitter": map[string]any{"id": "c1"}, "fields": refundFields("198.00", "alipay")}), http.StatusCreated, "submit")
			ids[i] = sub.str("ticket_id")
		}
		// The first ticket moves on to fang, who lets xiaoli act for her: xiaoli's pending
		// list shows it, as fang's delegate. Its first node still names xiaoli.
		s.must(s.call("POST", "/v1/tickets/"+ids[0]+"/approve", xiaoli, map[string]any{}), http.StatusOK, "approve at business")
		s.must(s.call("POST", "/v1/delegations", fang, map[string]any{"delegate": "xiaoli"}), http.StatusCreated, "fang's grant")
		s.must(s.call("POST", "/v1/principals/xiaoli/disable", s.admin, map[string]any{"reason": "left the company"}), http.StatusOK, "disable xiaoli")

		noTask := s.call("POST", "/v1/tickets/"+ids[1]+"/transfer", s.admin, map[string]any{"to": "wang"})
		if noTask.status != http.StatusUnprocessableEntity || noTask.str("code") != "required" || !strings.Contains(noTask.str("detail"), "(xiaoli)") {
			t.Fatalf("an admin's transfer naming no task: %d %s", noTask.status, noTask.raw)
		}
		one := s.must(s.call("POST", "/v1/tickets/"+ids[1]+"/transfer", s.admin, map[string]any{"to": "wang", "task_id": "1.1", "comment": "xiaoli has left"}),
			http.StatusOK, "an admin reassigns one task")
		if p, _ := one.body["pending"].([]any); len(p) != 1 || p[0] != "wang" {
			t.Fatalf("after the reassignment, pending %v", one.body["pending"])
		}

		for _, c := range []struct {
			name, token string
			body        map[string]any
			status      int
			code        string
		}{
			{"by an approver", fang, map[string]any{"to": "wang"}, http.StatusForbidden, "missing-role"},
			{"to nobody", s.admin, map[string]any{"to": "nobody"}, http.StatusUnprocessableEntity, "unknown-user"},
			{"to the holder", s.admin, map[string]any{"to": "xiaoli"}, http.StatusUnprocessableEntity, "disabled-user"},
			{"to no one named", s.admin, map[string]any{}, http.StatusUnprocessableEntity, "invalid-request"},
		} {
			if r := s.call("POST", "/v1/principals/xiaoli/handover", c.token, c.body); r.status != c.status || r.str("code") != c.code {
				t.Errorf("a handover %s: %d %s", c.name, r.status, r.raw)
			}
		}
		if r := s.call("POST", "/v1/principals/xiaoil/handover", s.admin, map[string]any{"to": "wang"}); r.status != http.StatusNotFound ||
			r.str("code") != "no-such-principal" {
			t.Errorf("a handover of a mistyped principal: %d %s", r.status, r.raw)
		}

		// Before the handover, the admin looks at what xiaoli holds; her colleagues may not.
		held := s.must(s.call("GET", "/v1/workbench/pending?principal=xiaoli&min_position="+one.str("position"), s.admin, nil),
			http.StatusOK, "xiaoli's pending list, as the admin reads it")
		if items, _ := held.body["items"].([]any); len(items) != 3 {
			t.Fatalf("xiaoli's pending list (two tasks of her own, one as fang's delegate): %s", held.raw)
		}
		if r := s.call("GET", "/v1/workbench/pending?principal=xiaoli", fang, nil); r.status != http.StatusForbidden || r.str("code") != "not-principal" {
			t.Fatalf("fang reading xiaoli's workbench: %d %s", r.status, r.raw)
		}
		h := s.must(s.call("POST", "/v1/principals/xiaoli/handover?min_position="+one.str("position"), s.admin,
			map[string]any{"to": "wang", "comment": "xiaoli has left"}), http.StatusOK, "handover")
		var handed []string
		for _, it := range h.body["results"].([]any) {
			item := it.(map[string]any)
			if item["status"] != float64(http.StatusOK) {
				t.Errorf("handover item %v", item)
			}
			handed = append(handed, item["ticket_id"].(string))
		}
		slices.Sort(handed)
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(handed, want) || h.body["handed_over"] != float64(4) || h.body["more"] != false {
			t.Fatalf("handed over %v, want every ticket naming xiaoli %v: %s", handed, want, h.raw)
		}
		again := s.must(s.call("POST", "/v1/principals/xiaoli/handover?min_position="+h.str("position"), s.admin, map[string]any{"to": "wang"}),
			http.StatusOK, "handover again")
		if again.body["handed_over"] != float64(0) || len(again.body["results"].([]any)) != 0 {
			t.Fatalf("a second handover: %s", again.raw)
		}

		pending := s.must(s.call("GET", "/v1/workbench/pending?min_position="+h.str("position"), wang, nil), http.StatusOK, "wang's pending")
		if n := len(pending.body["items"].([]any)); n != 3 {
			t.Fatalf("wang has %d pending tasks, want 3: %s", n, pending.raw)
		}
		s.must(s.call("POST", "/v1/tickets/"+ids[2]+"/approve", wang, map[string]any{}), http.StatusOK, "wang approves a handed-over task")
		// Fang's task, which xiaoli saw as her delegate, stayed fang's; rejected back to
		// the business node, the ticket now goes to wang, not to xiaoli.
		back := s.must(s.call("POST", "/v1/tickets/"+ids[0]+"/reject", fang, map[string]any{"comment": "photos missing"}), http.StatusOK, "fang rejects")
		if p, _ := back.body["pending"].([]any); back.str("current_node") != "business" || len(p) != 1 || p[0] != "wang" {
			t.Fatalf("back at the business node: %s", back.raw)
		}

		tl := s.must(s.call("GET", "/v1/tickets/"+ids[3]+"/timeline?min_position="+h.str("position"), s.admin, nil), http.StatusOK, "timeline")
		entries := tl.body["entries"].([]any)
		moved := entries[len(entries)-2].(map[string]any)
		d, _ := moved["detail"].(map[string]any)
		if moved["type"] != "ticket.task-transferred" || moved["actor"] != "admin" || moved["on_behalf_of"] != "" || d["reassigned"] != true ||
			d["assignee"] != "xiaoli" || d["to"] != "wang" || moved["comment"] != "xiaoli has left" {
			t.Fatalf("the reassignment as the timeline shows it: %v", moved)
		}
		replaced := entries[len(entries)-1].(map[string]any)
		d, _ = replaced["detail"].(map[string]any)
		if replaced["type"] != "ticket.handler-replaced" || d["from"] != "xiaoli" || d["to"] != "wang" {
			t.Fatalf("the route change as the timeline shows it: %v", replaced)
		}
		view := s.must(s.call("GET", "/v1/tickets/"+ids[3]+"?min_position="+h.str("position"), s.admin, nil), http.StatusOK, "the ticket's route")
		if strings.Contains(string(view.raw), `"xiaoli"`) {
			t.Fatalf("the route still names xiaoli: %s", view.raw)
		}
	})
}

// TestNoEnabledHandlerIsAConflict: with the only customer-service user disabled, a valid
// refund cannot be routed. The shop used to get 422 invalid-fields at "nodes[0].handlers",
// as if its fields were wrong; it now gets 409 no-handlers naming the node and its role,
// and the same submission succeeds once the role has an enabled member.
func TestNoEnabledHandlerIsAConflict(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, _, _, _ := s.refundCast()
		s.principal("wang", "user", "", "approver")
		s.must(s.call("POST", "/v1/principals/xiaoli/disable", s.admin, map[string]any{}), http.StatusOK, "disable xiaoli")
		body := map[string]any{"process": "refund", "business_key": "SO-1", "submitter": map[string]any{"id": "c1"},
			"fields": refundFields("198.00", "alipay")}
		r := s.call("POST", "/v1/tickets", shop, body)
		if r.status != http.StatusConflict || r.str("code") != "no-handlers" ||
			!strings.Contains(r.str("detail"), "node business (Business review) has no enabled user among role customer-service") {
			t.Fatalf("a submission nobody could handle: %d %s", r.status, r.raw)
		}
		s.must(s.call("PUT", "/v1/principals/wang/roles/customer-service", s.admin, nil), http.StatusOK, "wang joins customer service")
		sub := s.must(s.call("POST", "/v1/tickets", shop, body), http.StatusCreated, "the same submission")
		if p, _ := sub.body["pending"].([]any); len(p) != 1 || p[0] != "wang" {
			t.Fatalf("routed to %v, want wang", sub.body["pending"])
		}
	})
}
