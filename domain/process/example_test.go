package process_test

import (
	"encoding/json"
	"fmt"

	"github.com/ticketledger/ticketledger/domain/process"
)

func ExampleParse() {
	_, err := process.Parse([]byte(`
key: leave
name: Leave request
system: hr
fields:
  days: {type: number, integer: true, min: 1, max: 0}
nodes:
  - key: manager
    name: Manager
    handlers: [{role: managers}]
    visible: []
    editable: [days]
    reject: hr
`))
	for _, p := range process.AsProblems(err) {
		fmt.Println(p)
	}
	// Output:
	// fields.days.max: must be ≥ min
	// nodes[0].editable[0]: field "days" is not visible at this node
	// nodes[0].reject: no node "hr" (want "end" or the key of an earlier node)
}

func ExampleDefinition_Route() {
	src, _ := process.Example("refund")
	def, err := process.Parse(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	values, err := def.ValidateJSON([]byte(`{
		"order_id": "SO-1001", "customer": "Zhang San", "reason": "wrong size",
		"items": [{"sku": "SKU-1", "name": "Shoes", "quantity": 2, "price": "129.50"}],
		"amount": "259.00", "refund_method": "original", "payee_name": "Zhang San"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	dir := process.StaticDirectory{Roles: map[string][]string{
		"customer-service": {"cs-li"}, "finance": {"fin-zhao"}, "cashier": {"cash-wu"},
	}}
	plan, err := def.Route(process.RouteInput{Values: values, Submitter: process.Submitter{ID: "shop"}}, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range plan.Applying() {
		fmt.Println(n.Key, n.Handlers, n.Due)
	}
	cashier, _ := json.Marshal(def.Project("cashier", values))
	fmt.Println(string(cashier))
	// Output:
	// business [cs-li] 8h0m0s
	// finance [fin-zhao] 6h0m0s
	// cashier [cash-wu] 4h0m0s
	// {"amount":"259.00","order_id":"SO-1001","payee_name":"Zhang San","refund_method":"original"}
}
