package ticket

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

type scenario struct {
	name  string
	given []Command
	when  Command
	// then lists the event types expected; check, when set, inspects the result.
	then     []string
	check    func(t *testing.T, s State, evs []Event)
	wantKind domain.Kind
	wantCode string
}

func (sc scenario) run(t *testing.T) {
	t.Helper()
	s, _, err := run(sc.given...)
	if err != nil {
		t.Fatalf("given: %v", err)
	}
	evs, err := Decide(s, sc.when)
	if sc.wantKind != "" {
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != sc.wantKind || de.Code != sc.wantCode {
			t.Fatalf("got %v (%#v), want a %s error with code %q", err, de, sc.wantKind, sc.wantCode)
		}
		if evs != nil {
			t.Fatalf("a refusal returned events %v", types(evs))
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected refusal: %v", err)
	}
	if got := types(evs); !slices.Equal(got, sc.then) {
		t.Fatalf("events %v, want %v", got, sc.then)
	}
	for _, e := range evs {
		s = Evolve(s, e)
	}
	if sc.check != nil {
		sc.check(t, s, evs)
	}
}

func TestSubmit(t *testing.T) {
	scenarios := []scenario{
		{name: "a small refund skips finance", when: submitCmd(100),
			then: []string{TypeSubmitted, TypeNodeActivated},
			check: func(t *testing.T, s State, evs []Event) {
				sub := evs[0].(*Submitted)
				if sub.System != "shop" || sub.Submitter != "wang" || sub.ProcessVersion != 3 || len(sub.Route) != 2 {
					t.Fatalf("submitted %+v", sub)
				}
				act := evs[1].(*NodeActivated)
				if act.Node != "staff" || len(act.Tasks) != 2 || !act.DueAt.Equal(at(8)) || !act.RemindAt.Equal(at(7)) {
					t.Fatalf("activated %+v", act)
				}
				if s.Status != StatusInProgress || !slices.Equal(s.PendingHandlers(), []string{"ann", "bob"}) || !slices.Contains(s.Watchers, "wang") {
					t.Fatalf("state %+v", s)
				}
			}},
		{name: "a large refund goes through finance", when: submitCmd(5000), then: []string{TypeSubmitted, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if len(s.Route) != 3 || s.Route[1].Key != "finance" {
					t.Fatalf("route %+v", s.Route)
				}
			}},
		{name: "a user submits for themselves", when: func() Submit { c := submitCmd(10); c.By = user("wang"); return c }(),
			then: []string{TypeSubmitted, TypeNodeActivated}},
		{name: "another system's client submits", when: func() Submit {
			c := submitCmd(10)
			c.Definition = testDef{system: "crm"}
			return c
		}(), wantKind: domain.Forbidden, wantCode: "wrong-system"},
		{name: "a user's submission belongs to the process's system", when: func() Submit {
			c := submitCmd(10)
			c.By, c.Definition = user("wang"), testDef{system: "shop"}
			return c
		}(), then: []string{TypeSubmitted, TypeNodeActivated},
			check: func(t *testing.T, _ State, evs []Event) {
				if sys := evs[0].(*Submitted).System; sys != "shop" {
					t.Fatalf("system %q", sys)
				}
			}},
		{name: "an empty route approves at once", when: func() Submit { c := submitCmd(10); c.Definition = testDef{route: []Node{}}; return c }(),
			then: []string{TypeSubmitted, TypeApproved},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Status != StatusApproved {
					t.Fatalf("status %s", s.Status)
				}
			}},
		{name: "a node's CC list is copied in when the node is reached",
			when: func() Submit {
				c := submitCmd(10)
				c.CC = []string{"audit"}
				c.Definition = testDef{route: []Node{{Key: "review", Mode: OneOf, Handlers: []string{"ann"}, CC: []string{"ming", "audit"}}}}
				return c
			}(),
			then: []string{TypeSubmitted, TypeNodeActivated, TypeCCAdded},
			check: func(t *testing.T, s State, evs []Event) {
				cc := evs[2].(*CCAdded)
				if cc.Node != "review" || cc.By != "svc-shop" || !slices.Equal(cc.Users, []string{"ming"}) || !s.Participant("ming") {
					t.Fatalf("cc %+v, state cc %v", cc, s.CC)
				}
			}},
		{name: "the same submission again is a no-op", given: []Command{submitCmd(100)}, when: submitCmd(100)},
		{name: "the same id with other fields", given: []Command{submitCmd(100)}, when: submitCmd(200), wantKind: domain.Conflict, wantCode: "already-submitted"},
		{name: "the same id with another title", given: []Command{submitCmd(100)},
			when: func() Submit { c := submitCmd(100); c.Title += " (again)"; return c }(), wantKind: domain.Conflict, wantCode: "already-submitted"},
		{name: "the same id for another submitter", given: []Command{submitCmd(100)},
			when: func() Submit { c := submitCmd(100); c.Submitter.ID = "someone-else"; return c }(), wantKind: domain.Conflict, wantCode: "already-submitted"},
		{name: "a user submits for another", when: func() Submit { c := submitCmd(10); c.By = user("mallory"); return c }(), wantKind: domain.Forbidden, wantCode: "submit-for-other"},
		{name: "no actor", when: func() Submit { c := submitCmd(10); c.By = Actor{}; return c }(), wantKind: domain.Unauthenticated, wantCode: "no-actor"},
		{name: "no ticket id", when: func() Submit { c := submitCmd(10); c.TicketID = ""; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "no submitter", when: func() Submit { c := submitCmd(10); c.Submitter.ID = ""; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "no definition", when: func() Submit { c := submitCmd(10); c.Definition = nil; return c }(), wantKind: domain.Invalid, wantCode: "no-definition"},
		{name: "a title too long", when: func() Submit { c := submitCmd(10); c.Title = strings.Repeat("长", MaxCommentLength+1); return c }(), wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "a title with a NUL", when: func() Submit { c := submitCmd(10); c.Title = "a\x00b"; return c }(), wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "a title not UTF-8", when: func() Submit { c := submitCmd(10); c.Title = "a\xffb"; return c }(), wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "invalid fields", when: func() Submit { c := submitCmd(10); c.Fields = json.RawMessage(`{"amount":-1}`); return c }(), wantKind: domain.Invalid, wantCode: "invalid-fields"},
		{name: "a node without handlers", when: func() Submit {
			c := submitCmd(10)
			c.Definition = testDef{route: []Node{{Key: "x", Mode: OneOf}}}
			return c
		}(), wantKind: domain.Invalid, wantCode: "no-handlers"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
}

func TestApproveAndReject(t *testing.T) {
	big := submitCmd(5000)
	scenarios := []scenario{
		{name: "one-of: the first approval completes the node", given: []Command{submitCmd(100)},
			when: Approve{By: user("bob"), Comment: "ok", At: at(1)},
			then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, evs []Event) {
				d := evs[0].(*TaskApproval).Decision
				if d.By != "bob" || d.Assignee != "bob" || d.Node != "staff" || len(d.ShownFields) != 64 {
					t.Fatalf("decision %+v", d)
				}
				if s.Route[s.Current].Key != "cashier" || !slices.Equal(s.PendingHandlers(), []string{"cat"}) {
					t.Fatalf("after staff: node %d, pending %v", s.Current, s.PendingHandlers())
				}
			}},
		{name: "all-of: one approval leaves the node open",
			given: []Command{big, Approve{By: user("ann"), At: at(1)}},
			when:  Approve{By: user("fay"), At: at(2)}, then: []string{TypeTaskApproved},
			check: func(t *testing.T, s State, _ []Event) {
				if !slices.Equal(s.PendingHandlers(), []string{"fred"}) {
					t.Fatalf("pending %v", s.PendingHandlers())
				}
			}},
		{name: "all-of: the last approval completes the node",
			given: []Command{big, Approve{By: user("ann"), At: at(1)}, Approve{By: user("fay"), At: at(2)}},
			when:  Approve{By: user("fred"), At: at(3)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated}},
		{name: "sequential: the second handler waits for the first",
			given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when:  Approve{By: user("cal"), At: at(2)}, wantKind: domain.Conflict, wantCode: "not-your-turn"},
		{name: "sequential: the last approval approves the ticket",
			given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}, Approve{By: user("cat"), At: at(2)}},
			when:  Approve{By: user("cal"), At: at(3)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeApproved},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Status != StatusApproved || !s.FinalAt.Equal(at(3)) {
					t.Fatalf("status %s at %s", s.Status, s.FinalAt)
				}
			}},
		{name: "finance sees only the amount",
			given: []Command{big, Approve{By: user("ann"), At: at(1)}},
			when:  Approve{By: user("fay"), At: at(2)}, then: []string{TypeTaskApproved},
			check: func(t *testing.T, s State, evs []Event) {
				want := ShownFieldsHash(Fields{"amount": json.RawMessage("5000")}, Node{})
				if got := evs[0].(*TaskApproval).ShownFields; got != want {
					t.Fatalf("shown fields hash %s, want the hash of the amount alone %s", got, want)
				}
			}},
		{name: "the loser of a race", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("bob"), At: at(1)}, wantKind: domain.Conflict, wantCode: "task-closed"},
		{name: "a stranger approves", given: []Command{submitCmd(100)}, when: Approve{By: user("eve"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-a-handler"},
		{name: "a closed task named", given: []Command{big, Approve{By: user("ann"), At: at(1)}, Approve{By: user("fay"), At: at(2)}},
			when: Approve{By: user("fay"), TaskID: "2.1", At: at(3)}, wantKind: domain.Conflict, wantCode: "task-closed"},
		{name: "a delegate approves with a grant", given: []Command{submitCmd(100)},
			when: Approve{By: delegate("amy", "ann", delegation.Grant{ID: "g", Delegate: "amy", From: t0}), At: at(1)},
			then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, evs []Event) {
				d := evs[0].(*TaskApproval).Decision
				if d.By != "amy" || d.Assignee != "ann" {
					t.Fatalf("decision by %s for %s, want amy for ann", d.By, d.Assignee)
				}
			}},
		{name: "a delegate without a grant", given: []Command{submitCmd(100)},
			when: Approve{By: delegate("amy", "ann"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "no-delegation"},
		{name: "a delegate whose grant is for another process", given: []Command{submitCmd(100)},
			when:     Approve{By: delegate("amy", "ann", delegation.Grant{ID: "g", Delegate: "amy", From: t0, Processes: []string{"claim"}}), At: at(1)},
			wantKind: domain.Forbidden, wantCode: "no-delegation"},
		{name: "a delegate whose grant expired", given: []Command{submitCmd(100)},
			when:     Approve{By: delegate("amy", "ann", delegation.Grant{ID: "g", Delegate: "amy", From: t0, Until: at(0.5)}), At: at(1)},
			wantKind: domain.Forbidden, wantCode: "no-delegation"},
		{name: "the cashier edits the payee", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("cat"), Changes: json.RawMessage(`{"payee":"Han Meimei"}`), Definition: testDef{}, At: at(2)},
			then: []string{TypeTaskApproved},
			check: func(t *testing.T, s State, evs []Event) {
				if string(s.Fields["payee"]) != `"Han Meimei"` || len(evs[0].(*TaskApproval).Changes) != 1 {
					t.Fatalf("fields %s", s.Fields)
				}
			}},
		{name: "the cashier edits the amount", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("cat"), Changes: json.RawMessage(`{"amount":1}`), Definition: testDef{}, At: at(2)}, wantKind: domain.Invalid, wantCode: "not-editable"},
		{name: "staff, who may edit nothing, edit the note", given: []Command{submitCmd(100)},
			when: Approve{By: user("ann"), Changes: json.RawMessage(`{"note":"x"}`), Definition: testDef{}, At: at(1)}, wantKind: domain.Invalid, wantCode: "not-editable"},
		{name: "an added signer, who may edit nothing, edits the payee",
			given: []Command{submitCmd(100), AddSigner{By: user("ann"), Signer: "sam", Where: After, At: at(1)}, Approve{By: user("ann"), At: at(2)}},
			when:  Approve{By: user("sam"), Changes: json.RawMessage(`{"payee":"x"}`), Definition: testDef{}, At: at(3)}, wantKind: domain.Invalid, wantCode: "not-editable"},
		{name: "an edit that breaks the schema", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("cat"), Changes: json.RawMessage(`{"payee":5}`), Definition: testDef{}, At: at(2)}, wantKind: domain.Invalid, wantCode: "invalid-fields"},
		{name: "changes that are no object", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("cat"), Changes: json.RawMessage(`[1]`), Definition: testDef{}, At: at(2)}, wantKind: domain.Invalid, wantCode: "not-an-object"},
		{name: "changes without a definition", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Approve{By: user("cat"), Changes: json.RawMessage(`{"payee":"x"}`), At: at(2)}, wantKind: domain.Invalid, wantCode: "no-definition"},
		{name: "a comment too long", given: []Command{submitCmd(100)},
			when: Approve{By: user("ann"), Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "a comment with a NUL", given: []Command{submitCmd(100)},
			when: Approve{By: user("ann"), Comment: "ok\x00", At: at(1)}, wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "reject ends the ticket", given: []Command{submitCmd(100)},
			when: Reject{By: user("ann"), Comment: "not our order", At: at(1)}, then: []string{TypeTaskRejected, TypeNodeCompleted, TypeRejected},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Status != StatusRejected || len(s.PendingHandlers()) != 0 {
					t.Fatalf("status %s, pending %v", s.Status, s.PendingHandlers())
				}
			}},
		{name: "reject at the cashier goes back to staff", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Reject{By: user("cat"), At: at(2)}, then: []string{TypeTaskRejected, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Status != StatusInProgress || s.Route[s.Current].Key != "staff" || s.Activation != 3 {
					t.Fatalf("status %s node %d activation %d", s.Status, s.Current, s.Activation)
				}
			}},
		{name: "reject by a stranger", given: []Command{submitCmd(100)}, when: Reject{By: user("eve"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-a-handler"},
		{name: "reject with a comment too long", given: []Command{submitCmd(100)},
			when: Reject{By: user("ann"), Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "no decision after the outcome", given: []Command{submitCmd(100), Reject{By: user("ann"), At: at(1)}},
			when: Approve{By: user("bob"), At: at(2)}, wantKind: domain.Conflict, wantCode: "ticket-closed"},
		{name: "approve a ticket that does not exist", when: Approve{By: user("ann"), At: at(1)}, wantKind: domain.NotFound, wantCode: "no-such-ticket"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
}

func TestReturnResubmitWithdraw(t *testing.T) {
	returned := []Command{submitCmd(100), Return{By: user("ann"), Comment: "attach the receipt", At: at(1)}}
	scenarios := []scenario{
		{name: "return from the first node goes to the submitter", given: []Command{submitCmd(100)},
			when: Return{By: user("ann"), At: at(1)}, then: []string{TypeReturned},
			check: func(t *testing.T, s State, evs []Event) {
				if evs[0].(*Returned).To != ToSubmitter || s.Status != StatusReturned || s.Current != -1 {
					t.Fatalf("returned to %s, status %s", evs[0].(*Returned).To, s.Status)
				}
			}},
		{name: "return goes to the previous node", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Return{By: user("cat"), At: at(2)}, then: []string{TypeReturned, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Route[s.Current].Key != "staff" {
					t.Fatalf("active node %d", s.Current)
				}
			}},
		{name: "return to a named earlier node", given: []Command{submitCmd(5000), Approve{By: user("ann"), At: at(1)},
			Approve{By: user("fay"), At: at(2)}, Approve{By: user("fred"), At: at(2)}},
			when: Return{By: user("cat"), To: "staff", At: at(3)}, then: []string{TypeReturned, TypeNodeActivated}},
		{name: "return to the submitter from a later node", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Return{By: user("cat"), To: ToSubmitter, At: at(2)}, then: []string{TypeReturned}},
		{name: "return to a later node", given: []Command{submitCmd(100)},
			when: Return{By: user("ann"), To: "cashier", At: at(1)}, wantKind: domain.Invalid, wantCode: "not-an-earlier-node"},
		{name: "return by a stranger", given: []Command{submitCmd(100)}, when: Return{By: user("eve"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-a-handler"},
		{name: "return with a comment too long", given: []Command{submitCmd(100)},
			when: Return{By: user("ann"), Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "approve while returned", given: returned, when: Approve{By: user("bob"), At: at(2)}, wantKind: domain.Conflict, wantCode: "no-active-node"},
		{name: "resubmit keeps the picks of the nodes it does not pick anew",
			given: []Command{func() Submit {
				c := submitCmd(100)
				c.Submitter.Picked = map[string][]string{"staff": {"ann"}, "cashier": {"cat"}}
				return c
			}(), Return{By: user("ann"), To: ToSubmitter, At: at(1)}},
			when: Resubmit{Definition: testDef{}, Submitter: Submitter{Picked: map[string][]string{"cashier": {"cal"}}}, By: shop, At: at(2)},
			then: []string{TypeResubmitted, TypeNodeActivated},
			check: func(t *testing.T, s State, evs []Event) {
				want := map[string][]string{"staff": {"ann"}, "cashier": {"cal"}}
				if r := evs[0].(*Resubmitted); !reflect.DeepEqual(r.Picked, want) || !reflect.DeepEqual(s.Picked, want) {
					t.Fatalf("picks %v, state %v, want %v", r.Picked, s.Picked, want)
				}
			}},
		{name: "resubmit with changes", given: returned,
			when: Resubmit{Definition: testDef{}, Changes: json.RawMessage(`{"amount":3000,"note":null}`), By: shop, Comment: "receipt attached", At: at(2)},
			then: []string{TypeResubmitted, TypeNodeActivated},
			check: func(t *testing.T, s State, evs []Event) {
				r := evs[0].(*Resubmitted)
				if !slices.Equal(r.Changed, []string{"amount", "note"}) || len(r.Route) != 3 {
					t.Fatalf("resubmitted %+v", r)
				}
				if _, ok := s.Fields["note"]; ok || string(s.Fields["amount"]) != "3000" {
					t.Fatalf("fields %s", s.Fields)
				}
			}},
		{name: "resubmit by the submitter in person", given: returned,
			when: Resubmit{Definition: testDef{}, By: user("wang"), At: at(2)}, then: []string{TypeResubmitted, TypeNodeActivated}},
		{name: "resubmit with invalid changes", given: returned,
			when: Resubmit{Definition: testDef{}, Changes: json.RawMessage(`{"amount":0}`), By: shop, At: at(2)}, wantKind: domain.Invalid, wantCode: "invalid-fields"},
		{name: "resubmit without a definition", given: returned, when: Resubmit{By: shop, At: at(2)}, wantKind: domain.Invalid, wantCode: "no-definition"},
		{name: "resubmit to a route without handlers", given: returned,
			when: Resubmit{Definition: testDef{route: []Node{{Key: "x"}}}, By: shop, At: at(2)}, wantKind: domain.Invalid, wantCode: "no-handlers"},
		{name: "resubmit with a comment too long", given: returned,
			when: Resubmit{Definition: testDef{}, By: shop, Comment: strings.Repeat("x", MaxCommentLength+1), At: at(2)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "resubmit by another", given: returned, when: Resubmit{Definition: testDef{}, By: user("ann"), At: at(2)}, wantKind: domain.Forbidden, wantCode: "not-submitter"},
		{name: "resubmit a ticket not returned", given: []Command{submitCmd(100)},
			when: Resubmit{Definition: testDef{}, By: shop, At: at(2)}, wantKind: domain.Conflict, wantCode: "not-returned"},
		{name: "withdraw", given: []Command{submitCmd(100)}, when: Withdraw{By: user("wang"), Reason: "changed my mind", At: at(1)},
			then: []string{TypeWithdrawn},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Status != StatusWithdrawn || len(s.PendingHandlers()) != 0 || s.Tasks[0].Status != TaskCancelled {
					t.Fatalf("status %s tasks %+v", s.Status, s.Tasks)
				}
			}},
		{name: "withdraw by the owning system", given: []Command{submitCmd(100)}, when: Withdraw{By: shop, At: at(1)}, then: []string{TypeWithdrawn}},
		{name: "withdraw by a handler", given: []Command{submitCmd(100)}, when: Withdraw{By: user("ann"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-submitter"},
		{name: "withdraw with a reason too long", given: []Command{submitCmd(100)},
			when: Withdraw{By: user("wang"), Reason: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "withdraw after the outcome", given: []Command{submitCmd(100), Withdraw{By: user("wang"), At: at(1)}},
			when: Withdraw{By: user("wang"), At: at(2)}, wantKind: domain.Conflict, wantCode: "ticket-closed"},
		{name: "withdraw by a delegate of the submitter", given: []Command{submitCmd(100)},
			when: Withdraw{By: delegate("sec", "wang", delegation.Grant{ID: "g", Delegate: "sec", From: t0}), At: at(1)}, then: []string{TypeWithdrawn}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
}

func TestTransferAndAddSigner(t *testing.T) {
	scenarios := []scenario{
		{name: "transfer a task", given: []Command{submitCmd(100)}, when: Transfer{By: user("ann"), To: "zoe", At: at(1)},
			then: []string{TypeTaskTransferred},
			check: func(t *testing.T, s State, _ []Event) {
				if !slices.Equal(s.PendingHandlers(), []string{"bob", "zoe"}) || s.Tasks[0].Status != TaskTransferred {
					t.Fatalf("pending %v tasks %+v", s.PendingHandlers(), s.Tasks)
				}
			}},
		{name: "the new assignee decides", given: []Command{submitCmd(100), Transfer{By: user("ann"), To: "zoe", At: at(1)}},
			when: Approve{By: user("zoe"), At: at(2)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated}},
		{name: "the old assignee no longer decides", given: []Command{submitCmd(100), Transfer{By: user("ann"), To: "zoe", At: at(1)}},
			when: Approve{By: user("ann"), At: at(2)}, wantKind: domain.Conflict, wantCode: "task-closed"},
		{name: "transfer to nobody", given: []Command{submitCmd(100)}, when: Transfer{By: user("ann"), At: at(1)}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "transfer to oneself", given: []Command{submitCmd(100)}, when: Transfer{By: user("ann"), To: "ann", At: at(1)}, wantKind: domain.Invalid, wantCode: "self-transfer"},
		{name: "transfer to a fellow handler", given: []Command{submitCmd(100)}, when: Transfer{By: user("ann"), To: "bob", At: at(1)}, wantKind: domain.Invalid, wantCode: "already-handler"},
		{name: "transfer to a later turn of a sequential node", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Transfer{By: user("cat"), To: "cal", At: at(2)}, wantKind: domain.Invalid, wantCode: "already-handler"},
		{name: "transfer with a comment too long", given: []Command{submitCmd(100)},
			when: Transfer{By: user("ann"), To: "zoe", Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "transfer by a stranger", given: []Command{submitCmd(100)}, when: Transfer{By: user("eve"), To: "zoe", At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-a-handler"},
		{name: "an admin reassigns a task they do not hold", given: []Command{submitCmd(100)},
			when: Transfer{By: root, TaskID: "1.1", To: "zoe", Comment: "ann has left", At: at(1)}, then: []string{TypeTaskTransferred},
			check: func(t *testing.T, s State, evs []Event) {
				e := evs[0].(*TaskTransfer)
				if !e.Reassigned || e.By != "root" || e.Assignee != "ann" || e.To != "zoe" {
					t.Fatalf("event %+v", e)
				}
				if !slices.Equal(s.PendingHandlers(), []string{"bob", "zoe"}) || s.Tasks[0].Status != TaskTransferred || s.Tasks[0].OnBehalfOf != "ann" {
					t.Fatalf("pending %v tasks %+v", s.PendingHandlers(), s.Tasks)
				}
			}},
		{name: "the reassigned task is decided by its new holder", given: []Command{submitCmd(100), Transfer{By: root, TaskID: "1.1", To: "zoe", At: at(1)}},
			when: Approve{By: user("zoe"), At: at(2)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated}},
		{name: "an admin names no task to reassign", given: []Command{submitCmd(100)}, when: Transfer{By: root, To: "zoe", At: at(1)},
			wantKind: domain.Invalid, wantCode: "required"},
		{name: "an admin names a task the node does not have", given: []Command{submitCmd(100)}, when: Transfer{By: root, TaskID: "9.9", To: "zoe", At: at(1)},
			wantKind: domain.Invalid, wantCode: "no-such-task"},
		{name: "an admin names a task of an earlier node", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Transfer{By: root, TaskID: "1.1", To: "zoe", At: at(2)}, wantKind: domain.Invalid, wantCode: "no-such-task"},
		{name: "an admin reassigns a task already decided at the node", given: []Command{submitCmd(5000), Approve{By: user("ann"), At: at(1)},
			Approve{By: user("fay"), At: at(2)}},
			when: Transfer{By: root, TaskID: "2.1", To: "zoe", At: at(3)}, wantKind: domain.Conflict, wantCode: "task-closed"},
		{name: "an admin reassigns a task to its holder", given: []Command{submitCmd(100)}, when: Transfer{By: root, TaskID: "1.1", To: "ann", At: at(1)},
			wantKind: domain.Invalid, wantCode: "self-transfer"},
		{name: "an admin reassigns to a fellow handler", given: []Command{submitCmd(100)}, when: Transfer{By: root, TaskID: "1.1", To: "bob", At: at(1)},
			wantKind: domain.Invalid, wantCode: "already-handler"},
		{name: "an admin reassigns on a closed ticket", given: []Command{submitCmd(100), Withdraw{By: shop, At: at(1)}},
			when: Transfer{By: root, TaskID: "1.1", To: "zoe", At: at(2)}, wantKind: domain.Conflict, wantCode: "ticket-closed"},
		{name: "a handover moves the pending task and the place in the route", given: []Command{submitCmd(5000)},
			when: Handover{From: "ann", To: "zoe", Comment: "ann has left", By: root, At: at(1)}, then: []string{TypeTaskTransferred, TypeHandlerReplaced},
			check: func(t *testing.T, s State, evs []Event) {
				if !evs[0].(*TaskTransfer).Reassigned || !slices.Equal(s.PendingHandlers(), []string{"bob", "zoe"}) {
					t.Fatalf("pending %v after %+v", s.PendingHandlers(), evs[0])
				}
				r := evs[1].(*HandlerReplaced)
				if !slices.Equal(r.Nodes, []string{"staff"}) || len(r.Tasks) != 0 || !slices.Equal(s.Route[0].Handlers, []string{"zoe", "bob"}) {
					t.Fatalf("replaced %+v: route %+v", r, s.Route)
				}
			}},
		{name: "a node reached after a handover goes to the new handler", given: []Command{submitCmd(5000), Handover{From: "fred", To: "zoe", By: root, At: at(1)}},
			when: Approve{By: user("ann"), At: at(2)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if !slices.Equal(s.PendingHandlers(), []string{"fay", "zoe"}) {
					t.Fatalf("finance pending %v", s.PendingHandlers())
				}
			}},
		{name: "a handover moves a waiting turn", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Handover{From: "cal", To: "zoe", By: root, At: at(2)}, then: []string{TypeHandlerReplaced},
			check: func(t *testing.T, s State, evs []Event) {
				if r := evs[0].(*HandlerReplaced); !slices.Equal(r.Tasks, []string{"2.2"}) || s.Tasks[1].Assignee != "zoe" || s.Tasks[1].Status != TaskWaiting {
					t.Fatalf("replaced %+v: tasks %+v", r, s.Tasks)
				}
				if !s.Participant("zoe") || !slices.Contains(s.Handled, "zoe") {
					t.Fatalf("zoe, who holds a waiting turn, is no participant: handled %v", s.Handled)
				}
				after, _ := Decide(s, Approve{By: user("cat"), At: at(3)})
				for _, e := range after {
					s = Evolve(s, e)
				}
				if !slices.Equal(s.PendingHandlers(), []string{"zoe"}) {
					t.Fatalf("after cat's turn, pending %v", s.PendingHandlers())
				}
			}},
		{name: "a handover to a fellow handler of the node", given: []Command{submitCmd(100)}, when: Handover{From: "ann", To: "bob", By: root, At: at(1)},
			wantKind: domain.Invalid, wantCode: "already-handler"},
		{name: "a handover of someone with nothing on the ticket", given: []Command{submitCmd(100)}, when: Handover{From: "eve", To: "zoe", By: root, At: at(1)},
			wantKind: domain.Conflict, wantCode: "nothing-to-hand-over"},
		{name: "a handover by a non-admin", given: []Command{submitCmd(100)}, when: Handover{From: "ann", To: "zoe", By: user("bob"), At: at(1)},
			wantKind: domain.Forbidden, wantCode: "not-admin"},
		{name: "a handover to oneself", given: []Command{submitCmd(100)}, when: Handover{From: "ann", To: "ann", By: root, At: at(1)},
			wantKind: domain.Invalid, wantCode: "self-transfer"},
		{name: "a handover on a closed ticket", given: []Command{submitCmd(100), Withdraw{By: shop, At: at(1)}},
			when: Handover{From: "ann", To: "zoe", By: root, At: at(2)}, wantKind: domain.Conflict, wantCode: "ticket-closed"},
		{name: "a delegate who is an admin still acts only for their principal", given: []Command{submitCmd(100)},
			when: Transfer{By: Actor{ID: "root", Admin: true, OnBehalfOf: "eve"}, TaskID: "1.1", To: "zoe", At: at(1)}, wantKind: domain.Forbidden, wantCode: "no-delegation"},
		{name: "add a signer after", given: []Command{submitCmd(100)}, when: AddSigner{By: user("ann"), Signer: "lawyer", Where: After, At: at(1)},
			then: []string{TypeSignerAdded},
			check: func(t *testing.T, s State, _ []Event) {
				if len(s.Route) != 3 || s.Route[1].Handlers[0] != "lawyer" || s.Current != 0 {
					t.Fatalf("route %+v current %d", s.Route, s.Current)
				}
			}},
		{name: "the added signer decides after the node", given: []Command{submitCmd(100), AddSigner{By: user("ann"), Signer: "lawyer", Where: After, At: at(1)},
			Approve{By: user("ann"), At: at(2)}},
			when: Approve{By: user("lawyer"), At: at(3)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Route[s.Current].Key != "cashier" {
					t.Fatalf("after the added signer: node %d", s.Current)
				}
			}},
		{name: "add a signer before", given: []Command{submitCmd(100)}, when: AddSigner{By: user("ann"), Signer: "lawyer", Where: Before, At: at(1)},
			then: []string{TypeSignerAdded, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Current != 0 || !slices.Equal(s.PendingHandlers(), []string{"lawyer"}) {
					t.Fatalf("current %d pending %v", s.Current, s.PendingHandlers())
				}
			}},
		{name: "the node comes back after a signer before", given: []Command{submitCmd(100), AddSigner{By: user("ann"), Signer: "lawyer", Where: Before, At: at(1)}},
			when: Approve{By: user("lawyer"), At: at(2)}, then: []string{TypeTaskApproved, TypeNodeCompleted, TypeNodeActivated},
			check: func(t *testing.T, s State, _ []Event) {
				if s.Route[s.Current].Key != "staff" || !slices.Equal(s.PendingHandlers(), []string{"ann", "bob"}) {
					t.Fatalf("current %d pending %v", s.Current, s.PendingHandlers())
				}
			}},
		{name: "add oneself", given: []Command{submitCmd(100)}, when: AddSigner{By: user("ann"), Signer: "ann", Where: After, At: at(1)}, wantKind: domain.Invalid, wantCode: "self-signer"},
		{name: "add nobody", given: []Command{submitCmd(100)}, when: AddSigner{By: user("ann"), Where: After, At: at(1)}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "add a signer nowhere", given: []Command{submitCmd(100)}, when: AddSigner{By: user("ann"), Signer: "x", Where: "beside", At: at(1)}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "add a signer with a comment too long", given: []Command{submitCmd(100)},
			when: AddSigner{By: user("ann"), Signer: "x", Where: After, Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "add a signer as a stranger", given: []Command{submitCmd(100)}, when: AddSigner{By: user("eve"), Signer: "x", Where: After, At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-a-handler"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
}

func TestCommentCCUrgeRemind(t *testing.T) {
	scheduler := Actor{ID: "scheduler", Scheduler: true}
	scenarios := []scenario{
		{name: "the submitter comments", given: []Command{submitCmd(100)}, when: Comment{By: user("wang"), Text: "please hurry", At: at(1)}, then: []string{TypeCommented}},
		{name: "a handler comments", given: []Command{submitCmd(100)}, when: Comment{By: user("bob"), Text: "looking", At: at(1)}, then: []string{TypeCommented}},
		{name: "an admin comments", given: []Command{submitCmd(100)}, when: Comment{By: Actor{ID: "root", Admin: true}, Text: "noted", At: at(1)}, then: []string{TypeCommented}},
		{name: "a comment after the outcome", given: []Command{submitCmd(100), Withdraw{By: user("wang"), At: at(1)}},
			when: Comment{By: user("wang"), Text: "sorry", At: at(2)}, then: []string{TypeCommented}},
		{name: "a stranger comments", given: []Command{submitCmd(100)}, when: Comment{By: user("eve"), Text: "hi", At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-participant"},
		{name: "an empty comment", given: []Command{submitCmd(100)}, when: Comment{By: user("wang"), At: at(1)}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "a comment on no ticket", when: Comment{By: user("wang"), Text: "x", At: at(1)}, wantKind: domain.NotFound, wantCode: "no-such-ticket"},
		{name: "a delegate without grant comments", given: []Command{submitCmd(100)}, when: Comment{By: delegate("x", "wang"), Text: "x", At: at(1)}, wantKind: domain.Forbidden, wantCode: "no-delegation"},
		{name: "a handler copies people in", given: []Command{submitCmd(100)}, when: CC{By: user("ann"), Users: []string{"boss", "audit", "boss"}, At: at(1)},
			then: []string{TypeCCAdded},
			check: func(t *testing.T, s State, evs []Event) {
				if !slices.Equal(evs[0].(*CCAdded).Users, []string{"audit", "boss"}) || !s.Participant("audit") {
					t.Fatalf("cc %+v", evs[0])
				}
			}},
		{name: "copying in again is a no-op", given: []Command{submitCmd(100), CC{By: user("ann"), Users: []string{"boss"}, At: at(1)}},
			when: CC{By: user("wang"), Users: []string{"boss"}, At: at(2)}},
		{name: "a stranger copies people in", given: []Command{submitCmd(100)}, when: CC{By: user("eve"), Users: []string{"x"}, At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-handler"},
		{name: "copy nobody in", given: []Command{submitCmd(100)}, when: CC{By: user("ann"), At: at(1)}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "copy an empty name in", given: []Command{submitCmd(100)}, when: CC{By: user("ann"), Users: []string{""}, At: at(1)}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "copy in on a closed ticket", given: []Command{submitCmd(100), Withdraw{By: user("wang"), At: at(1)}},
			when: CC{By: user("wang"), Users: []string{"x"}, At: at(2)}, wantKind: domain.Conflict, wantCode: "ticket-closed"},
		{name: "the submitter urges", given: []Command{submitCmd(100)}, when: Urge{By: user("wang"), Interval: time.Hour, At: at(1)},
			then: []string{TypeUrged},
			check: func(t *testing.T, s State, evs []Event) {
				u := evs[0].(*Urged)
				if u.Node != "staff" || !slices.Equal(u.Urged, []string{"ann", "bob"}) || s.Urges != 1 {
					t.Fatalf("urged %+v", u)
				}
			}},
		{name: "urging twice within the interval", given: []Command{submitCmd(100), Urge{By: user("wang"), Interval: time.Hour, At: at(1)}},
			when: Urge{By: user("wang"), Interval: time.Hour, At: at(1.5)}, wantKind: domain.TooSoon, wantCode: "urged-recently"},
		{name: "urging again after the interval", given: []Command{submitCmd(100), Urge{By: user("wang"), Interval: time.Hour, At: at(1)}},
			when: Urge{By: user("wang"), Interval: time.Hour, At: at(2)}, then: []string{TypeUrged}},
		{name: "urging the next node at once", given: []Command{submitCmd(100), Urge{By: user("wang"), Interval: time.Hour, At: at(1)}, Approve{By: user("ann"), At: at(1.1)}},
			when: Urge{By: user("wang"), Interval: time.Hour, At: at(1.2)}, then: []string{TypeUrged}},
		{name: "the owning system urges", given: []Command{submitCmd(100)}, when: Urge{By: shop, At: at(1)}, then: []string{TypeUrged}},
		{name: "a stranger urges", given: []Command{submitCmd(100)}, when: Urge{By: user("eve"), At: at(1)}, wantKind: domain.Forbidden, wantCode: "not-watcher"},
		{name: "urge a returned ticket", given: []Command{submitCmd(100), Return{By: user("ann"), At: at(1)}},
			when: Urge{By: user("wang"), At: at(2)}, wantKind: domain.Conflict, wantCode: "no-active-node"},
		{name: "urge with a comment too long", given: []Command{submitCmd(100)},
			when: Urge{By: user("wang"), Comment: strings.Repeat("x", MaxCommentLength+1), At: at(1)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "due-soon reminder", given: []Command{submitCmd(100)}, when: Remind{By: scheduler, Kind: DueSoon, At: at(7)},
			then: []string{TypeReminded},
			check: func(t *testing.T, s State, evs []Event) {
				r := evs[0].(*Reminded)
				if r.Node != "staff" || !r.DueAt.Equal(at(8)) || len(r.Handlers) != 2 {
					t.Fatalf("reminded %+v", r)
				}
			}},
		{name: "due-soon reminder too early", given: []Command{submitCmd(100)}, when: Remind{By: scheduler, Kind: DueSoon, At: at(6)}, wantKind: domain.Conflict, wantCode: "not-due"},
		{name: "overdue reminder", given: []Command{submitCmd(100)}, when: Remind{By: scheduler, Kind: Overdue, At: at(9)}, then: []string{TypeReminded}},
		{name: "a due-soon reminder reached only after the due time is left out", given: []Command{submitCmd(100)},
			when: Remind{By: scheduler, Kind: DueSoon, At: at(8)}},
		{name: "the whole ticket's due-soon reminder too early", given: []Command{submitCmd(100)},
			when: Remind{By: scheduler, Whole: true, Kind: DueSoon, At: at(23)}, wantKind: domain.Conflict, wantCode: "not-due"},
		{name: "the whole ticket's due-soon reminder", given: []Command{submitCmd(100)},
			when: Remind{By: scheduler, Whole: true, Kind: DueSoon, At: at(24)}, then: []string{TypeReminded},
			check: func(t *testing.T, s State, evs []Event) {
				r := evs[0].(*Reminded)
				if r.Activation != 0 || r.Node != "staff" || !r.DueAt.Equal(at(48)) || !slices.Equal(r.Handlers, []string{"ann", "bob"}) || !s.Reminded["0/"+DueSoon] {
					t.Fatalf("reminded %+v", r)
				}
			}},
		{name: "the whole ticket's overdue reminder, once", given: []Command{submitCmd(100), Remind{By: scheduler, Whole: true, Kind: Overdue, At: at(48)}},
			when: Remind{By: scheduler, Whole: true, Kind: Overdue, At: at(49)}},
		{name: "the whole ticket's due-soon reminder reached when it is overdue", given: []Command{submitCmd(100)},
			when: Remind{By: scheduler, Whole: true, Kind: DueSoon, At: at(50)}},
		{name: "no reminder for a closed ticket", given: []Command{submitCmd(100), Withdraw{By: shop, At: at(1)}},
			when: Remind{By: scheduler, Whole: true, Kind: Overdue, At: at(50)}},
		{name: "a reminder sent twice is a no-op", given: []Command{submitCmd(100), Remind{By: scheduler, Kind: Overdue, At: at(9)}},
			when: Remind{By: scheduler, Kind: Overdue, At: at(10)}},
		{name: "no reminder for a node without SLA", given: []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}},
			when: Remind{By: scheduler, Kind: Overdue, At: at(100)}},
		{name: "no reminder on a closed ticket", given: []Command{submitCmd(100), Withdraw{By: user("wang"), At: at(1)}},
			when: Remind{By: scheduler, Kind: Overdue, At: at(100)}},
		{name: "a reminder of an unknown kind", given: []Command{submitCmd(100)}, when: Remind{By: scheduler, Kind: "soonish", At: at(9)}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "a reminder from a user", given: []Command{submitCmd(100)}, when: Remind{By: user("wang"), Kind: Overdue, At: at(9)}, wantKind: domain.Forbidden, wantCode: "not-scheduler"},
		{name: "a reminder for no ticket", when: Remind{By: scheduler, Kind: Overdue, At: at(9)}, wantKind: domain.NotFound, wantCode: "no-such-ticket"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
}

func TestReportExecution(t *testing.T) {
	approved := []Command{submitCmd(100), Approve{By: user("ann"), At: at(1)}, Approve{By: user("cat"), At: at(2)}, Approve{By: user("cal"), At: at(3)}}
	ok := ReportExecution{By: shop, Status: ExecutionSucceeded, Detail: "refund paid", At: at(4)}
	scenarios := []scenario{
		{name: "the owning system reports success", given: approved, when: ok, then: []string{TypeExecutionReported},
			check: func(t *testing.T, s State, _ []Event) {
				if !s.Succeeded() || s.Executions[0].ReportedBy != "svc-shop" {
					t.Fatalf("executions %+v", s.Executions)
				}
			}},
		{name: "a failure then a success", given: append(slices.Clone(approved), ReportExecution{By: shop, Status: ExecutionFailed, Detail: "gateway down", At: at(4)}),
			when: ok, then: []string{TypeExecutionReported}},
		{name: "the same success again is a no-op", given: append(slices.Clone(approved), ok), when: ok},
		{name: "another report after success", given: append(slices.Clone(approved), ok),
			when: ReportExecution{By: shop, Status: ExecutionFailed, At: at(5)}, wantKind: domain.Conflict, wantCode: "already-executed"},
		{name: "a report before the outcome", given: []Command{submitCmd(100)}, when: ok, wantKind: domain.Conflict, wantCode: "no-outcome"},
		{name: "a report by another system", given: approved, when: ReportExecution{By: Actor{ID: "svc-crm", System: "crm"}, Status: ExecutionSucceeded, At: at(4)},
			wantKind: domain.Forbidden, wantCode: "not-owner"},
		{name: "a report by a user", given: approved, when: ReportExecution{By: user("wang"), Status: ExecutionSucceeded, At: at(4)}, wantKind: domain.Forbidden, wantCode: "not-owner"},
		{name: "a report of an unknown status", given: approved, when: ReportExecution{By: shop, Status: "done", At: at(4)}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "a report with a detail too long", given: approved,
			when: ReportExecution{By: shop, Status: ExecutionFailed, Detail: strings.Repeat("x", MaxCommentLength+1), At: at(4)}, wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "a report on no ticket", when: ok, wantKind: domain.NotFound, wantCode: "no-such-ticket"},
		{name: "a rejected ticket's execution", given: []Command{submitCmd(100), Reject{By: user("ann"), At: at(1)}}, when: ok, then: []string{TypeExecutionReported}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
	if _, err := Decide(Initial(), nil); !domain.Is(err, domain.Invalid) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	_, evs, err := run(submitCmd(5000), Approve{By: user("ann"), At: at(1)}, Transfer{By: user("fay"), To: "zoe", At: at(1)},
		Handover{From: "fred", To: "ivy", By: root, At: at(1)}, AddSigner{By: user("ivy"), Signer: "lawyer", Where: After, At: at(1)}, Comment{By: user("wang"), Text: "hi", At: at(1)},
		CC{By: user("wang"), Users: []string{"boss"}, At: at(1)}, Urge{By: user("wang"), At: at(1)},
		Return{By: user("zoe"), To: ToSubmitter, At: at(2)},
		Resubmit{Definition: testDef{}, By: shop, At: at(3)}, Remind{By: Actor{ID: "s", Scheduler: true}, Kind: Overdue, At: at(20)},
		Reject{By: user("bob"), At: at(21)}, ReportExecution{By: shop, Status: ExecutionFailed, At: at(22)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		seen[typ] = true
		back, err := Decode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("%s did not round-trip:\n got %#v\nwant %#v", typ, back, e)
		}
		std, _ := newEvent(typ)
		if err := json.Unmarshal(data, std); err != nil || !reflect.DeepEqual(back, std) {
			t.Fatalf("%s: Decode and encoding/json disagree (%v):\n got %#v\nwant %#v", typ, err, back, std)
		}
	}
	// Bodies written by hand: unknown members, other letter case, nulls, escapes.
	for _, c := range []struct{ typ, body string }{
		{TypeSubmitted, `{"TICKET_ID":"t1","Title":"a\u00e9\"b","cc":null,"fields":{"x":[1,{"y":null}]},"extra":{"z":[true]}}`},
		{TypeNodeActivated, `{"activation":2,"tasks":[{"id":"2.1","assignee":"ann","status":"pending"}],"due_at":"2026-11-25T10:00:00+08:00"}`},
		{TypeTaskApproved, `{"task_id":"1.1","by":"ann","changes":{"amount":"1.00"},"at":"2026-11-25T02:00:00.123456789Z"}`},
	} {
		back, err := Decode(c.typ, []byte(c.body))
		std, _ := newEvent(c.typ)
		stdErr := json.Unmarshal([]byte(c.body), std)
		if err != nil || stdErr != nil || !reflect.DeepEqual(back, std) {
			t.Fatalf("%s %s: Decode %#v (%v), encoding/json %#v (%v)", c.typ, c.body, back, err, std, stdErr)
		}
	}
	_, more, _ := run(submitCmd(100), Approve{By: user("ann"), At: at(1)}, Approve{By: user("cat"), At: at(1)}, Approve{By: user("cal"), At: at(1)},
		ReportExecution{By: shop, Status: ExecutionSucceeded, At: at(2)})
	_, withdrawn, _ := run(submitCmd(100), Withdraw{By: user("wang"), At: at(1)})
	for _, e := range append(more, withdrawn...) {
		typ, _ := TypeOf(e)
		seen[typ] = true
	}
	for _, typ := range []string{TypeSubmitted, TypeNodeActivated, TypeTaskApproved, TypeTaskRejected, TypeNodeCompleted, TypeReturned,
		TypeResubmitted, TypeWithdrawn, TypeTaskTransferred, TypeHandlerReplaced, TypeSignerAdded, TypeCommented, TypeCCAdded, TypeUrged,
		TypeReminded, TypeApproved, TypeRejected, TypeExecutionReported} {
		if !seen[typ] {
			t.Errorf("no %s in the round-trip sample", typ)
		}
	}
	if _, err := Decode("ticket.nope", []byte("{}")); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := Decode(TypeSubmitted, []byte("[")); err == nil {
		t.Fatal("bad body decoded")
	}
	if _, _, err := Encode(nil); err == nil {
		t.Fatal("nil encoded")
	}
	if Stream("x") != "ticket-x" {
		t.Fatal("stream name")
	}
}

// TestConstructorsMatchTypeOf: the constructors, which Decode uses and whose decoders
// init compiles, make an event of every stored type, each named back by TypeOf.
func TestConstructorsMatchTypeOf(t *testing.T) {
	if len(constructors) != 18 {
		t.Errorf("%d constructors, want one per event type (18)", len(constructors))
	}
	for typ, c := range constructors {
		if got, err := TypeOf(c()); err != nil || got != typ {
			t.Errorf("constructors[%s] makes a %T, which TypeOf names %q (%v)", typ, c(), got, err)
		}
	}
}

// TestVisibleNoneIsNotEvery round-trips a route whose nodes see every field (Visible nil)
// and none (empty): written to the log and read back, they stay apart.
func TestVisibleNoneIsNotEvery(t *testing.T) {
	e := &Submitted{TicketID: "t1", Route: []Node{{Key: "all", Handlers: []string{"a"}}, {Key: "none", Handlers: []string{"b"}, Visible: []string{}}}}
	typ, data, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(typ, data)
	if err != nil {
		t.Fatal(err)
	}
	route := back.(*Submitted).Route
	if route[0].Visible != nil || route[1].Visible == nil || len(route[1].Visible) != 0 {
		t.Fatalf("visible %#v and %#v from %s", route[0].Visible, route[1].Visible, data)
	}
	if !route[0].Sees("amount") || route[1].Sees("amount") {
		t.Fatal("a node that sees none sees a field, or one that sees every field does not")
	}
}
