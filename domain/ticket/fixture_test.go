package ticket

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketledger/ticketledger/domain/delegation"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// testDef is a small process: fields amount (number > 0, required), payee and note (text);
// nodes staff (one-of: ann, bob) → finance (all-of: fay, fred; only when amount > 1000;
// sees amount) → cashier (sequential: cat, cal; sees payee and amount; rejections go back
// to staff; may edit payee).
type testDef struct {
	route  []Node
	system string
}

func (testDef) Key() string                 { return "refund" }
func (testDef) Version() int                { return 3 }
func (testDef) UrgeInterval() time.Duration { return time.Hour }
func (d testDef) System() string            { return d.system }

// TicketSLA: the whole ticket is due in two days, with a reminder a day before.
func (testDef) TicketSLA() (due, remind time.Duration) { return 48 * time.Hour, 24 * time.Hour }

func (testDef) ValidateFields(raw json.RawMessage) (Fields, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("fields: must be an object")
	}
	out := Fields{}
	for k, v := range m {
		switch k {
		case "amount":
			var f float64
			if err := json.Unmarshal(v, &f); err != nil || f <= 0 {
				return nil, fmt.Errorf("fields.amount: must be a positive number")
			}
		case "payee", "note":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("fields.%s: must be text", k)
			}
		default:
			return nil, fmt.Errorf("fields.%s: unknown field", k)
		}
		out[k] = v
	}
	if _, ok := out["amount"]; !ok {
		return nil, fmt.Errorf("fields.amount: required")
	}
	return out, nil
}

func (d testDef) Route(f Fields, s Submitter) ([]Node, error) {
	if d.route != nil {
		return d.route, nil
	}
	var amount float64
	_ = json.Unmarshal(f["amount"], &amount)
	route := []Node{{Key: "staff", Mode: OneOf, Handlers: []string{"ann", "bob"}, DueAfter: 8 * time.Hour, RemindBefore: time.Hour}}
	if amount > 1000 {
		route = append(route, Node{Key: "finance", Mode: AllOf, Handlers: []string{"fay", "fred"}, Visible: []string{"amount"}})
	}
	route = append(route, Node{Key: "cashier", Mode: Sequential, Handlers: []string{"cat", "cal"},
		Visible: []string{"amount", "payee"}, Editable: []string{"payee"}, RejectTo: "staff"})
	return route, nil
}

func user(id string) Actor { return Actor{ID: id} }

var shop = Actor{ID: "svc-shop", System: "shop"}

// root holds the admin role.
var root = Actor{ID: "root", Admin: true}

func delegate(id, forWhom string, grants ...delegation.Grant) Actor {
	return Actor{ID: id, OnBehalfOf: forWhom, Grants: delegation.State{Grants: grants}}
}

func submitCmd(amount int) Submit {
	return Submit{
		TicketID: "t1", Definition: testDef{}, BusinessKey: "order-42",
		Fields:    json.RawMessage(fmt.Sprintf(`{"amount":%d,"payee":"Li Lei","note":"wrong size"}`, amount)),
		Submitter: Submitter{ID: "wang"}, Title: "Refund order 42", By: shop, At: t0,
	}
}

// run folds given commands from the initial state, failing on any refusal.
func run(cmds ...Command) (State, []Event, error) {
	s := Initial()
	var all []Event
	for i, c := range cmds {
		evs, err := Decide(s, c)
		if err != nil {
			return s, all, fmt.Errorf("command %d (%T): %w", i, c, err)
		}
		for _, e := range evs {
			s = Evolve(s, e)
		}
		all = append(all, evs...)
	}
	return s, all, nil
}

func types(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i], _ = TypeOf(e)
	}
	return out
}
