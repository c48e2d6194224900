package api_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ticketledger/ticketledger/domain/process"
)

func refundFields(amount, method string) map[string]any {
	return map[string]any{"order_id": "SO-20261125-0042", "customer": "Zhang San", "reason": "wrong size",
		"items":  []map[string]any{{"sku": "TS-42-L", "name": "T-shirt", "quantity": 2, "price": "99.00"}},
		"amount": amount, "refund_method": method, "payee_name": "Zhang San", "payee_account": "6222 0000 1111"}
}

// publishExamples publishes the article's two processes as the admin.
func (s *stack) publishExamples() {
	s.t.Helper()
	for _, name := range []string{"refund", "data-conflict"} {
		src, err := process.Example(name)
		if err != nil {
			s.t.Fatal(err)
		}
		r := s.callType("PUT", "/v1/processes/"+name, s.admin, src, "application/yaml")
		s.must(r, http.StatusCreated, "publish "+name)
		again := s.callType("PUT", "/v1/processes/"+name, s.admin, src, "application/yaml")
		s.must(again, http.StatusOK, "republish "+name)
	}
}

func (s *stack) callType(method, path, token string, body []byte, contentType string) response {
	s.t.Helper()
	return s.call(method, path, token, body, "Content-Type", contentType)
}

func fieldsOf(t *testing.T, r response) map[string]any {
	t.Helper()
	f, ok := r.body["fields"].(map[string]any)
	if !ok {
		t.Fatalf("no fields in %s", r.raw)
	}
	return f
}

// TestRefundScenario runs the article's refund as the shop and its approvers would: the
// shop submits, business staff, finance (through a delegate) and the cashier approve, each
// seeing only their node's fields; the shop reads the outcome and reports the payout.
// Then return and resubmit, withdrawal, batch approval and the auditor's replay.
func TestRefundScenario(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		s.publishExamples()
		shop := s.principal("svc-shop", "service", "shop", "system")
		xiaoli := s.principal("xiaoli", "user", "", "customer-service", "approver")
		fang := s.principal("fang", "user", "", "finance", "approver")
		chen := s.principal("chen", "user", "", "cashier", "approver")
		assistant := s.principal("assistant", "user", "", "approver")
		auditor := s.principal("audrey", "user", "", "auditor")

		sub := map[string]any{"process": "refund", "business_key": "SO-20261125-0042", "title": "Refund SO-20261125-0042",
			"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}
		first := s.must(s.call("POST", "/v1/tickets", shop, sub, "Idempotency-Key", "order-42"), http.StatusCreated, "submit")
		id := first.str("ticket_id")
		again := s.must(s.call("POST", "/v1/tickets", shop, sub, "Idempotency-Key", "order-42"), http.StatusOK, "submit again")
		if again.str("ticket_id") != id || again.str("position") != first.str("position") {
			t.Fatalf("a repeated submission: %s", again.raw)
		}
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", fang, map[string]any{}), http.StatusForbidden, "finance before business")

		seen := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+first.str("position"), xiaoli, nil), http.StatusOK, "business view")
		if f := fieldsOf(t, seen); f["payee_account"] != nil || f["reason"] == nil {
			t.Fatalf("business staff see %v", f)
		}
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{"comment": "goods back"}), http.StatusOK, "xiaoli approves")

		grant := s.must(s.call("POST", "/v1/delegations", fang, map[string]any{"delegate": "assistant", "processes": []string{"refund"}, "reason": "leave"}),
			http.StatusCreated, "fang delegates")
		list := s.must(s.call("GET", "/v1/delegations", fang, nil), http.StatusOK, "list delegations")
		if gs, _ := list.body["grants"].([]any); len(gs) != 1 {
			t.Fatalf("grants %s", list.raw)
		}
		asDelegate := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+grant.str("position"), assistant, nil), http.StatusOK, "delegate view")
		if f := fieldsOf(t, asDelegate); f["payee_name"] != nil || f["amount"] == nil || asDelegate.str("access") != "delegate" {
			t.Fatalf("the delegate sees %s", asDelegate.raw)
		}
		pending := s.must(s.call("GET", "/v1/workbench/pending", assistant, nil), http.StatusOK, "delegate's workbench")
		if items, _ := pending.body["items"].([]any); len(items) != 1 {
			t.Fatalf("delegate's pending list %s", pending.raw)
		}
		// Deciding as themselves, the delegate is told whom they may act for.
		asSelf := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", assistant, map[string]any{}), http.StatusForbidden, "the delegate approves as themselves")
		if asSelf.str("code") != "not-a-handler" || !strings.Contains(asSelf.str("detail"), "as fang's delegate, assistant acts on behalf of fang") {
			t.Fatalf("the delegate deciding as themselves: %s", asSelf.raw)
		}
		byDelegate := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", assistant, map[string]any{"comment": "amounts match"}, "X-On-Behalf-Of", "fang"),
			http.StatusOK, "the delegate approves for fang")
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", assistant, nil, "X-On-Behalf-Of", "chen"), http.StatusForbidden, "acting for someone who did not delegate")

		cashier := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+byDelegate.str("position"), chen, nil, "X-Request-ID", "r1"), http.StatusOK, "cashier view")
		if cashier.header.Get("X-Request-ID") != "r1" || cashier.str("access") != "handler" {
			t.Fatalf("cashier: %s", cashier.raw)
		}
		done := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", chen, map[string]any{"comment": "paid"}), http.StatusOK, "chen approves")
		if done.str("status") != "approved" {
			t.Fatalf("after the cashier: %s", done.raw)
		}
		cashierView := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+done.str("position"), chen, nil), http.StatusOK, "cashier view")
		if f := fieldsOf(t, cashierView); f["items"] != nil || f["payee_name"] == nil {
			t.Fatalf("the cashier sees %v", f)
		}
		s.must(s.call("POST", "/v1/tickets/"+id+"/execution", shop, map[string]any{"status": "succeeded", "detail": "paid 198.00 CNY"}), http.StatusOK, "report")
		outcome := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+done.str("position"), shop, nil), http.StatusOK, "shop reads the outcome")
		if outcome.str("status") != "approved" || fieldsOf(t, outcome)["payee_account"] == nil {
			t.Fatalf("the shop sees %s", outcome.raw)
		}

		sub2 := map[string]any{"process": "refund", "business_key": "SO-2", "submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("300.00", "alipay")}
		second := s.must(s.call("POST", "/v1/tickets", shop, sub2), http.StatusCreated, "submit a second")
		id2 := second.str("ticket_id")
		ret := s.must(s.call("POST", "/v1/tickets/"+id2+"/return", xiaoli, map[string]any{"to": "submitter", "comment": "photos missing"}), http.StatusOK, "return")
		if ret.str("status") != "returned" {
			t.Fatalf("after return: %s", ret.raw)
		}
		res := s.must(s.call("POST", "/v1/tickets/"+id2+"/resubmit", shop, map[string]any{"changes": map[string]any{"reason": "wrong size; photos attached"}}),
			http.StatusOK, "resubmit")
		if res.str("status") != "in_progress" || res.str("current_node") != "business" {
			t.Fatalf("after resubmit: %s", res.raw)
		}
		wd := s.must(s.call("POST", "/v1/tickets/"+id2+"/withdraw", shop, map[string]any{"reason": "customer kept the goods"}), http.StatusOK, "withdraw")
		if wd.str("status") != "withdrawn" {
			t.Fatalf("after withdraw: %s", wd.raw)
		}
		s.must(s.call("POST", "/v1/tickets/"+id2+"/approve", xiaoli, nil), http.StatusConflict, "approving a withdrawn ticket")

		var ids []map[string]any
		for i := range 3 {
			sub := map[string]any{"process": "refund", "business_key": fmt.Sprintf("B-%d", i), "submitter": map[string]any{"id": "cust-7"},
				"fields": refundFields("20.00", "original")}
			ids = append(ids, map[string]any{"ticket_id": s.must(s.call("POST", "/v1/tickets", shop, sub), http.StatusCreated, "submit").str("ticket_id")})
		}
		ids = append(ids, map[string]any{"ticket_id": id2})
		batch := s.must(s.call("POST", "/v1/approvals", xiaoli, map[string]any{"items": ids}, "Idempotency-Key", "batch-1"), http.StatusOK, "batch")
		if batch.body["approved"] != 3.0 || batch.body["failed"] != 1.0 {
			t.Fatalf("batch: %s", batch.raw)
		}
		if last := batch.body["results"].([]any)[2].(map[string]any)["result"].(map[string]any)["position"]; batch.str("position") == "" || batch.str("position") != last {
			t.Fatalf("the batch's position %q, want its last approval's %v", batch.str("position"), last)
		}
		doneList := s.must(s.call("GET", "/v1/workbench/done?min_position="+batch.str("position"), xiaoli, nil), http.StatusOK, "done after the batch")
		for _, it := range ids[:3] {
			if !strings.Contains(string(doneList.raw), it["ticket_id"].(string)) {
				t.Fatalf("ticket %s is not done at the batch's position: %s", it["ticket_id"], doneList.raw)
			}
		}
		batchAgain := s.must(s.call("POST", "/v1/approvals", xiaoli, map[string]any{"items": ids}, "Idempotency-Key", "batch-1"), http.StatusOK, "batch again")
		if batchAgain.body["approved"] != 3.0 || batchAgain.body["failed"] != 1.0 {
			t.Fatalf("a retried batch did not answer as the first: %s", batchAgain.raw)
		}
		for _, r := range batchAgain.body["results"].([]any) {
			item := r.(map[string]any)
			if res, ok := item["result"].(map[string]any); ok && res["appended"] != 0.0 {
				t.Fatalf("a retried batch approved again: %s", batchAgain.raw)
			}
		}

		h := s.must(s.call("GET", "/v1/tickets/"+id+"/history", auditor, nil), http.StatusOK, "history")
		if h.body["intact"] != true {
			t.Fatalf("history %s", h.raw)
		}
		st := s.must(s.call("GET", "/v1/tickets/"+id+"/state?position="+first.str("position"), auditor, nil), http.StatusOK, "state at submission")
		if st.str("status") != "in_progress" || st.str("current_node") != "business" {
			t.Fatalf("state at the submission's position: %s", st.raw)
		}
		s.must(s.call("GET", "/v1/tickets/"+id+"/history", xiaoli, nil), http.StatusForbidden, "history as an approver")
		ph := s.must(s.call("GET", "/v1/principals/fang/history", auditor, nil), http.StatusOK, "a principal's history")
		if recs, _ := ph.body["records"].([]any); ph.body["intact"] != true || len(recs) < 2 {
			t.Fatalf("fang's history: %s", ph.raw)
		}
		var granted bool
		for _, r := range ph.body["records"].([]any) {
			if rec := r.(map[string]any); rec["verified"] == true && strings.Contains(fmt.Sprint(rec["data"]), "finance") {
				granted = true
			}
		}
		if !granted {
			t.Fatalf("fang's history does not show the finance role: %s", ph.raw)
		}
		s.must(s.call("GET", "/v1/principals/nobody/history", auditor, nil), http.StatusNotFound, "an unknown principal's history")
		tl := s.must(s.call("GET", "/v1/tickets/"+id+"/timeline?min_position="+done.str("position"), shop, nil), http.StatusOK, "timeline")
		if es, _ := tl.body["entries"].([]any); len(es) < 6 {
			t.Fatalf("timeline %s", tl.raw)
		}
		s.must(s.call("GET", "/v1/statistics/nodes?min_position="+done.str("position"), auditor, nil), http.StatusOK, "statistics")
		rv := s.must(s.call("DELETE", "/v1/delegations/fang/"+grantID(t, grant), fang, nil), http.StatusOK, "revoke")
		_ = rv
	})
}

func grantID(t *testing.T, r response) string {
	t.Helper()
	gs, _ := r.body["grants"].([]any)
	if len(gs) == 0 {
		t.Fatalf("no grant in %s", r.raw)
	}
	g, _ := gs[0].(map[string]any)
	id, _ := g["id"].(string)
	return id
}

// TestDataConflictScenario runs the article's data conflict claim: the CRM submits Wang's
// claim, Wang urges (once per interval), the two data-conflict reviewers race to decide
// (one wins, one gets a 409), and the CRM reports the lead given back.
func TestDataConflictScenario(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		s.publishExamples()
		crm := s.principal("svc-crm", "service", "crm", "system")
		wang := s.principal("wang", "user", "", "approver")
		a := s.principal("team-a", "user", "", "data-conflict", "approver")
		b := s.principal("team-b", "user", "", "data-conflict", "approver")
		ming := s.principal("ming", "user", "", "approver")
		fields := map[string]any{"lead_id": "L-7781", "lead_name": "Acme Ltd", "current_owner": "ming", "claimant": "wang",
			"first_contact": "2026-10-02", "description": "I met Acme at the fair and logged the call first.",
			"evidence": []map[string]any{{"id": "att-1", "name": "call-log.png", "url": "https://files.example/att-1", "size": 48213}}}
		sub := s.must(s.call("POST", "/v1/tickets", crm, map[string]any{"process": "data-conflict", "business_key": "L-7781",
			"submitter": map[string]any{"id": "wang"}, "title": "Lead L-7781 belongs to Wang", "fields": fields}), http.StatusCreated, "submit")
		id := sub.str("ticket_id")
		s.must(s.call("POST", "/v1/tickets/"+id+"/urge", wang, map[string]any{"comment": "the client calls tomorrow"}), http.StatusOK, "urge")
		urged := s.must(s.call("POST", "/v1/tickets/"+id+"/urge", wang, nil), http.StatusTooManyRequests, "urge again")
		// The process lets a node be urged every 4 hours: the answer says when, in seconds.
		if after, err := strconv.Atoi(urged.header.Get("Retry-After")); urged.str("code") != "urged-recently" || err != nil || after < 4*3600-60 || after > 4*3600 {
			t.Fatalf("second urge: Retry-After %q %s", urged.header.Get("Retry-After"), urged.raw)
		}

		s.must(s.call("POST", "/v1/tickets/"+id+"/cc", wang, map[string]any{"users": []string{"ming"}}), http.StatusOK, "wang copies ming in")

		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, tok := range []string{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = s.call("POST", "/v1/tickets/"+id+"/approve", tok, map[string]any{"comment": "the call log predates the assignment"}).status
			}()
		}
		wg.Wait()
		if !(statuses[0] == 200 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 200) {
			t.Fatalf("racing approvers got %v, want one 200 and one 409", statuses)
		}
		rep := s.must(s.call("POST", "/v1/tickets/"+id+"/execution", crm, map[string]any{"status": "succeeded", "detail": "lead L-7781 reassigned to wang"}),
			http.StatusOK, "report")
		ccView := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+rep.str("position"), ming, nil), http.StatusOK, "the current owner, copied in")
		if f := fieldsOf(t, ccView); len(f) != 0 || ccView.str("access") != "cc" {
			t.Fatalf("a CC'd principal sees %s", ccView.raw)
		}
		final := s.must(s.call("GET", "/v1/tickets/"+id, wang, nil), http.StatusOK, "wang reads")
		if final.str("status") != "approved" || fieldsOf(t, final)["lead_id"] != "L-7781" {
			t.Fatalf("the claimant reads %s", final.raw)
		}
	})
}

// TestNodeFieldLimits holds nodes to their field lists over HTTP: a node without an
// editable list may change no field (the refund's cashier changing the amount is 422),
// and a node with `visible: []` sees no field.
func TestNodeFieldLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, s *stack) {
		shop, xiaoli, fang, chen := s.refundCast()
		sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "NL-1", "title": "Refund NL-1",
			"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("300.00", "bank_transfer")}), http.StatusCreated, "submit")
		id := sub.str("ticket_id")
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{}), http.StatusOK, "business approves")
		s.must(s.call("POST", "/v1/tickets/"+id+"/approve", fang, map[string]any{}), http.StatusOK, "finance approves")
		r := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", chen, map[string]any{"changes": map[string]any{"amount": "9999.00"}}),
			http.StatusUnprocessableEntity, "the cashier changes the amount")
		if r.str("code") != "not-editable" {
			t.Fatalf("the refusal: %s", r.raw)
		}
		done := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", chen, map[string]any{}), http.StatusOK, "the cashier approves")
		seen := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+done.str("position"), s.admin, nil), http.StatusOK, "the ticket")
		if f := fieldsOf(t, seen); f["amount"] != "300.00" {
			t.Fatalf("the amount after the refused change: %v", f["amount"])
		}

		blind := "key: blind\nname: Blind\nsystem: shop\nfields:\n  secret: {type: text}\nnodes:\n  - key: check\n    name: Check\n    handlers: [{user: xiaoli}]\n    visible: []\n"
		s.must(s.callType("PUT", "/v1/processes/blind", s.admin, []byte(blind), "application/yaml"), http.StatusCreated, "publish blind")
		b := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "blind", "business_key": "B-1", "submitter": map[string]any{"id": "cust-1"},
			"fields": map[string]any{"secret": "TOPSECRET"}}), http.StatusCreated, "submit blind")
		view := s.must(s.call("GET", "/v1/tickets/"+b.str("ticket_id")+"?min_position="+b.str("position"), xiaoli, nil), http.StatusOK, "the handler's view")
		if strings.Contains(string(view.raw), "TOPSECRET") {
			t.Fatalf("a node with visible: [] sees the fields: %s", view.raw)
		}
	})
}

// TestRejectToSkippedNode rejects at the refund's cashier, whose rejection goes to
// finance, on a ticket that skipped finance (a small refund to the original method): it
// goes back to business review instead of ending the ticket.
func TestRejectToSkippedNode(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL)
	shop, xiaoli, _, chen := s.refundCast()
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "RS-1", "title": "Refund RS-1",
		"submitter": map[string]any{"id": "cust-1"}, "fields": refundFields("25.00", "original")}), http.StatusCreated, "submit")
	id := sub.str("ticket_id")
	s.must(s.call("POST", "/v1/tickets/"+id+"/approve", xiaoli, map[string]any{}), http.StatusOK, "business approves")
	r := s.must(s.call("POST", "/v1/tickets/"+id+"/reject", chen, map[string]any{"comment": "back to review"}), http.StatusOK, "the cashier rejects")
	if r.str("status") != "in_progress" || r.str("current_node") != "business" {
		t.Fatalf("after the cashier's rejection: %s", r.raw)
	}
}

// TestResubmitKeepsPicks returns a ticket whose approver the submitter picked: resubmitted
// without picks, it goes to the same approver; with new picks, to the new one.
func TestResubmitKeepsPicks(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	s := start(t, store, dbURL)
	shop, xiaoli, fang, _ := s.refundCast()
	def := "key: claim\nname: Claim\nsystem: shop\nfields:\n  note: {type: text}\nnodes:\n  - key: lead\n    name: Lead\n    handlers: [{chosen: true}]\n"
	s.must(s.callType("PUT", "/v1/processes/claim", s.admin, []byte(def), "application/yaml"), http.StatusCreated, "publish claim")
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "claim", "business_key": "C-1",
		"submitter": map[string]any{"id": "cust-1", "picked": map[string]any{"lead": []string{"xiaoli"}}}, "fields": map[string]any{"note": "n"}}),
		http.StatusCreated, "submit with a pick")
	id := sub.str("ticket_id")
	s.must(s.call("POST", "/v1/tickets/"+id+"/return", xiaoli, map[string]any{"to": "submitter"}), http.StatusOK, "return to the submitter")
	again := s.must(s.call("POST", "/v1/tickets/"+id+"/resubmit", shop, map[string]any{"comment": "as before"}), http.StatusOK, "resubmit")
	if p, _ := again.body["pending"].([]any); len(p) != 1 || p[0] != "xiaoli" {
		t.Fatalf("resubmitted without picks: %s", again.raw)
	}
	s.must(s.call("POST", "/v1/tickets/"+id+"/return", xiaoli, map[string]any{"to": "submitter"}), http.StatusOK, "return again")
	repicked := s.must(s.call("POST", "/v1/tickets/"+id+"/resubmit", shop, map[string]any{"picked": map[string]any{"lead": []string{"fang"}}}),
		http.StatusOK, "resubmit with a new pick")
	if p, _ := repicked.body["pending"].([]any); len(p) != 1 || p[0] != "fang" {
		t.Fatalf("resubmitted with a new pick: %s", repicked.raw)
	}
	done := s.must(s.call("POST", "/v1/tickets/"+id+"/approve", fang, map[string]any{}), http.StatusOK, "the new pick approves")
	st := s.must(s.call("GET", "/v1/tickets/"+id+"/state?position="+done.str("position"), s.admin, nil), http.StatusOK, "the state an auditor replays")
	if picked, _ := st.body["picked"].(map[string]any); fmt.Sprint(picked["lead"]) != "[fang]" {
		t.Fatalf("the picks in the replayed state: %s", st.raw)
	}
}
