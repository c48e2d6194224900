package process

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var directory = StaticDirectory{
	Roles: map[string][]string{
		"customer-service": {"cs1", "cs2"},
		"finance":          {"f1", "f2"},
		"cashier":          {"c1"},
		"data-conflict":    {"dc1", "dc2"},
		"auditors":         {"a1", "f1"},
	},
	Groups: map[string][]string{"leads": {"l1", "l2", "l1"}},
}

func refundValues(t *testing.T, def *Definition, amount, method string) Values {
	t.Helper()
	v, err := def.ValidateJSON([]byte(`{
		"order_id": "SO-1001", "customer": "Zhang San", "reason": "wrong size",
		"items": [{"sku": "SKU-1", "name": "Shoes", "quantity": 1, "price": "` + amount + `"}],
		"amount": "` + amount + `", "refund_method": "` + method + `", "payee_name": "Zhang San"}`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func keysApplying(p Plan) string {
	var keys []string
	for _, n := range p.Applying() {
		keys = append(keys, n.Key)
	}
	return strings.Join(keys, ",")
}

func TestRouteRefund(t *testing.T) {
	t.Parallel()
	def := mustExample(t, "refund")
	tests := []struct {
		name   string
		amount string
		method string
		want   string
	}{
		{"small refund to the original method skips finance", "199.99", "original", "business,cashier"},
		{"exactly 200 needs finance", "200.00", "original", "business,finance,cashier"},
		{"small refund by bank transfer needs finance", "10.00", "bank_transfer", "business,finance,cashier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, err := def.Route(RouteInput{Values: refundValues(t, def, tt.amount, tt.method), Submitter: Submitter{ID: "shop"}}, directory)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysApplying(plan); got != tt.want {
				t.Errorf("applying nodes = %s, want %s", got, tt.want)
			}
		})
	}
	plan, err := def.Route(RouteInput{Values: refundValues(t, def, "10.00", "original")}, directory)
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		{Key: "business", Index: 0, Applies: true, Mode: ModeOneOf, Handlers: []string{"cs1", "cs2"}, Due: 8 * time.Hour, Remind: 2 * time.Hour, Reject: RejectEnd},
		{Key: "finance", Index: 1, Skipped: SkipCondition, Mode: ModeOneOf, Due: 6 * time.Hour, Remind: time.Hour, Reject: "business"},
		// The cashier rejects to finance, which this ticket skips: to business instead.
		{Key: "cashier", Index: 2, Applies: true, Mode: ModeOneOf, Handlers: []string{"c1"}, CC: []string{"f1", "f2"}, Due: 4 * time.Hour, Remind: time.Hour, Reject: "business"},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Errorf("plan =\n%+v\nwant\n%+v", plan, want)
	}
	if plan, err := def.Route(RouteInput{Values: refundValues(t, def, "300.00", "original")}, directory); err != nil || plan[2].Reject != "finance" {
		t.Errorf("with finance on the route, the cashier rejects to %q (%v), want finance", plan[2].Reject, err)
	}
}

// TestRejectTargetSkipped checks where a rejection goes when the node it names is skipped:
// to the first node after it the ticket passes through, before the rejecting node, else
// to the nearest one before it, else it ends the ticket.
func TestRejectTargetSkipped(t *testing.T) {
	plan := func(applies string, reject string) Plan {
		var p Plan
		for i, c := range applies {
			p = append(p, NodePlan{Key: string(rune('a' + i)), Index: i, Applies: c == 'y', Reject: RejectEnd})
		}
		p[len(p)-1].Reject = reject
		return p
	}
	for _, tc := range []struct{ applies, reject, want string }{
		{"yyy", "b", "b"},       // b applies
		{"ynyy", "b", "c"},      // b skipped: c, the next that applies, before d
		{"ynny", "b", "a"},      // b and c skipped: back to a
		{"nny", "a", RejectEnd}, // nothing before
		{"yy", RejectEnd, RejectEnd},
	} {
		p := plan(tc.applies, tc.reject)
		if got := p.rejectTarget(len(p) - 1); got != tc.want {
			t.Errorf("%s rejecting to %s: %s, want %s", tc.applies, tc.reject, got, tc.want)
		}
	}
}

func TestRouteDataConflict(t *testing.T) {
	t.Parallel()
	def := mustExample(t, "data-conflict")
	v, err := def.ValidateJSON([]byte(`{"lead_id": "L-7", "current_owner": "ming", "claimant": "wang",
		"evidence": [{"id": "e1", "name": "call-log.pdf", "size": 2048}], "description": "I called them first.", "first_contact": "2024-03-01"}`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := def.Route(RouteInput{Values: v, Submitter: Submitter{ID: "wang", Department: "sales"}}, directory)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || !reflect.DeepEqual(plan[0].Handlers, []string{"dc1", "dc2"}) || !reflect.DeepEqual(plan[0].CC, []string{"ming"}) || plan[0].Due != 48*time.Hour {
		t.Errorf("plan = %+v", plan)
	}
	if got := def.VisibleFields("review"); len(got) != len(def.Fields()) {
		t.Errorf("review sees %v, want every field", got)
	}
}

const handlersDef = `
key: handlers
name: Handlers
system: test
settings: {node_sla: {due: 1h}}
fields:
  owner: {type: user}
  team: {type: user_list}
  amount: {type: money}
nodes:
  - key: explicit
    name: Explicit
    handlers: [{user: boss}, {role: finance}, {group: leads}, {user: f1}]
    mode: sequential
    cc: [{role: auditors}, {submitter: true}, {user: boss}]
  - key: owner
    name: Owner
    handlers: [{field: owner}, {field: team}]
    mode: all_of
    cc: [{field: team}]
  - key: self
    name: Self
    handlers: [{submitter: true}]
  - key: picked
    name: Picked
    when: amount > 100
    handlers: [{chosen: {role: finance, max: 2}}]
  - key: anyone
    name: Anyone
    handlers: [{chosen: true}]
    sla: {due: 3h}
  - key: optional
    name: Optional
    handlers: [{role: nobody}]
    empty: skip
`

func TestRouteHandlers(t *testing.T) {
	t.Parallel()
	def := mustParse(t, handlersDef)
	base := Values{"owner": "o1", "team": []string{"t1", "o1", "t2"}}
	withAmount := func(a string) Values {
		v := base.Clone()
		m, _ := ParseMoney(a, 2)
		v["amount"] = m
		return v
	}
	tests := []struct {
		name   string
		in     RouteInput
		dir    Directory
		want   map[string][]string
		cc     map[string][]string
		skip   map[string]string
		probs  []string
		noDir  bool
		sla    map[string]time.Duration
		routed string
	}{
		{
			name: "every kind resolves",
			in:   RouteInput{Values: withAmount("500"), Submitter: Submitter{ID: "s1"}, Chosen: map[string][]string{"picked": {"f2", "f1"}, "anyone": {"x9"}}},
			want: map[string][]string{
				"explicit": {"boss", "f1", "f2", "l1", "l2"},
				"owner":    {"o1", "t1", "t2"},
				"self":     {"s1"},
				"picked":   {"f2", "f1"},
				"anyone":   {"x9"},
			},
			cc:     map[string][]string{"explicit": {"a1", "s1"}, "owner": nil},
			skip:   map[string]string{"optional": SkipNoHandler},
			sla:    map[string]time.Duration{"explicit": time.Hour, "anyone": 3 * time.Hour},
			routed: "explicit,owner,self,picked,anyone",
		},
		{
			name: "condition false skips the chosen node and ignores its picks",
			in:   RouteInput{Values: withAmount("50"), Submitter: Submitter{ID: "s1"}, Chosen: map[string][]string{"picked": {"zz"}, "anyone": {"x9"}}},
			skip: map[string]string{"picked": SkipCondition, "optional": SkipNoHandler},
		},
		{
			name:  "missing picks",
			in:    RouteInput{Values: withAmount("500"), Submitter: Submitter{ID: "s1"}},
			probs: []string{"chosen.picked: the submitter must pick an approver", "chosen.anyone: the submitter must pick an approver"},
		},
		{
			name:  "too many picks, outsiders, bad ids, unknown nodes",
			in:    RouteInput{Values: withAmount("500"), Submitter: Submitter{ID: "s1"}, Chosen: map[string][]string{"picked": {"f1", "x", "y"}, "anyone": {""}, "nope": {"a"}, "self": {"a"}}},
			probs: []string{"chosen.picked: at most 2 approvers may be picked, got 3", "chosen.anyone[0]: user id must not be empty", `chosen.nope: no node "nope"`, `chosen.self: node "self" has no chosen handler`},
		},
		{
			name:  "pick outside the role",
			in:    RouteInput{Values: withAmount("500"), Submitter: Submitter{ID: "s1"}, Chosen: map[string][]string{"picked": {"c1"}, "anyone": {"x"}}},
			probs: []string{`chosen.picked[0]: "c1" is not a member of role finance`},
		},
		{
			name:  "nobody to handle",
			in:    RouteInput{Values: Values{}, Submitter: Submitter{}, Chosen: map[string][]string{"anyone": {"x"}}},
			noDir: true,
			probs: []string{"nodes[1].handlers: resolve to nobody", "nodes[2].handlers: resolve to nobody"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dir Directory = directory
			if tt.noDir {
				dir = nil
			}
			plan, err := def.Route(tt.in, dir)
			if tt.probs != nil {
				wantProblems(t, err, tt.probs)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range plan {
				if w, ok := tt.want[p.Key]; ok && !reflect.DeepEqual(p.Handlers, w) {
					t.Errorf("%s handlers = %v, want %v", p.Key, p.Handlers, w)
				}
				if w, ok := tt.cc[p.Key]; ok && !reflect.DeepEqual(p.CC, w) {
					t.Errorf("%s cc = %v, want %v", p.Key, p.CC, w)
				}
				if w := tt.skip[p.Key]; p.Skipped != w || p.Applies == (w != "") {
					t.Errorf("%s applies=%v skipped=%q, want skipped %q", p.Key, p.Applies, p.Skipped, w)
				}
				if w, ok := tt.sla[p.Key]; ok && p.Due != w {
					t.Errorf("%s due = %v, want %v", p.Key, p.Due, w)
				}
			}
			if tt.routed != "" && keysApplying(plan) != tt.routed {
				t.Errorf("applying = %s, want %s", keysApplying(plan), tt.routed)
			}
		})
	}
}

func TestRouteNode(t *testing.T) {
	t.Parallel()
	def := mustParse(t, handlersDef)
	p, err := def.RouteNode("owner", RouteInput{Values: Values{"owner": "o1"}}, nil)
	if err != nil || !reflect.DeepEqual(p.Handlers, []string{"o1"}) || p.Index != 1 || p.Mode != ModeAllOf {
		t.Errorf("RouteNode(owner) = %+v, %v", p, err)
	}
	_, err = def.RouteNode("nope", RouteInput{}, nil)
	wantProblems(t, err, []string{`node: no node "nope"`})
	_, err = def.RouteNode("self", RouteInput{}, nil)
	wantProblems(t, err, []string{"nodes[2].handlers: resolve to nobody"})
}

func TestConditions(t *testing.T) {
	t.Parallel()
	def := mustParse(t, conditionDef)
	sub := Submitter{ID: "wang", Department: "sales", Roles: []string{"vip"}, Groups: []string{"east"}, Attributes: map[string]any{"level": 3.0, "region": "north"}}
	values, err := def.ValidateJSON([]byte(conditionValues))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		when string
		want bool
	}{
		{`amount > 1000`, true},
		{`amount > 1000.10`, false},
		{`amount >= 1000.10`, true},
		{`amount == 1000.1`, true},
		{`amount != 1000.1`, false},
		{`amount < 2000 && amount <= 1000.10`, true},
		{`1000 < amount`, true},
		{`1000.2 > amount`, true},
		{`amount + fee > 1005`, true},
		{`amount - 0.10 == 1000`, true},
		{`amount * 2 == 2000.2`, true},
		{`2 * amount == 2000.2`, true},
		{`amount + 1 > 1001 && 1 + amount > 1001 && 0.5 + amount > 1000 && amount - 1 < amount`, true},
		{`fee == 5`, true},
		{`unset_money == 0`, true},
		{`submitter.department == "sales"`, true},
		{`"vip" in submitter.roles && "east" in submitter.groups`, true},
		{`submitter.id == claimant`, true},
		{`submitter.attrs.level >= 3`, true},
		{`submitter.attrs.region == "north"`, true},
		{`submitter.attrs.missing == nil`, true},
		{`qty > 2 && ratio < 1`, true},
		{`urgent`, true},
		{`day >= date("2024-03-01") && day < date("2024-03-02")`, true},
		{`at > date("2024-03-01T00:00:00Z")`, true},
		{`color == "red" && owner == "ming"`, true},
		{`"ming" in team && len(team) == 2`, true},
		{`evidence.size > 100 && evidence.name endsWith ".pdf"`, true},
		{`len(files) == 1 && files[0].id == "f1"`, true},
		{`any(items, .price > 100) && all(items, .qty >= 1)`, true},
		{`sum(items, .qty) == 3`, true},
		{`len(filter(items, .sku startsWith "A")) == 1`, true},
		{`note == ""`, true},
		{`count == 7`, true},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			t.Parallel()
			prog, err := def.env.compile(tt.when)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := def.env.eval(prog, values, sub)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

const conditionDef = `
key: conditions
name: Conditions
system: test
fields:
  amount: {type: money}
  fee: {type: money, scale: 0}
  unset_money: {type: money}
  claimant: {type: user}
  qty: {type: number, integer: true}
  ratio: {type: number}
  urgent: {type: boolean}
  day: {type: date}
  at: {type: datetime}
  color: {type: enum, values: [red, blue]}
  owner: {type: user}
  team: {type: user_list}
  evidence: {type: attachment}
  files: {type: attachment_list}
  items: {type: table, columns: {sku: {type: text}, qty: {type: number, integer: true}, price: {type: money}, day: {type: date}}}
  note: {type: text}
  count: {type: number, integer: true}
nodes:
  - key: n
    name: N
    handlers: [{user: u}]
    when: amount > 1 / 0 || count > 100
  - key: m
    name: M
    handlers: [{user: u}]
    when: date(note) > at
  - key: o
    name: O
    handlers: [{user: u}]
    when: items[5].qty > 1
`

const conditionValues = `{
	"amount": "1000.10", "fee": "5", "claimant": "wang", "qty": 3, "ratio": 0.5, "urgent": true,
	"day": "2024-03-01", "at": "2024-03-01T10:00:00+08:00", "color": "red", "owner": "ming",
	"team": ["ming", "wang"], "evidence": {"id": "e", "name": "proof.pdf", "size": 4096},
	"files": [{"id": "f1", "name": "f"}],
	"items": [{"sku": "A1", "qty": 1, "price": "150", "day": "2024-01-01"}, {"sku": "B2", "qty": 2, "price": "1"}],
	"count": 7
}`

func TestConditionRuntimeErrors(t *testing.T) {
	t.Parallel()
	def := mustParse(t, conditionDef)
	values, err := def.ValidateJSON([]byte(conditionValues))
	if err != nil {
		t.Fatal(err)
	}
	_, err = def.Route(RouteInput{Values: values}, nil)
	wantProblems(t, err, []string{
		"nodes[0].when: a money amount cannot be combined with an infinite or NaN number",
		`nodes[1].when: date(""): want YYYY-MM-DD or an RFC 3339 date-time`,
		"nodes[2].when: index out of range",
	})
	bad := values.Clone()
	bad["amount"] = "1000"
	_, err = def.Route(RouteInput{Values: bad}, nil)
	wantProblems(t, err, []string{"nodes[0].when: field amount: holds string, not a normalised money value"})
	bad = values.Clone()
	bad["items"] = []Values{{"qty": "x"}}
	_, err = def.Route(RouteInput{Values: bad}, nil)
	wantProblems(t, err, []string{"row 0: column qty: holds string"})
}

func TestMoneyOperatorErrors(t *testing.T) {
	t.Parallel()
	if _, err := moneyCompare("<")(Money{}); err == nil {
		t.Error("one operand accepted")
	}
	if _, err := moneyCompare("<")(Money{}, "x"); err == nil {
		t.Error("string operand accepted")
	}
	if _, err := moneyCompare("<")("x", Money{}); err == nil {
		t.Error("string operand accepted")
	}
	if _, err := moneyArithmetic("+")(Money{}, "x"); err == nil {
		t.Error("string operand accepted")
	}
	big, _ := ParseMoney("999999999999999999", 0)
	if _, err := moneyArithmetic("*")(big, 1e30); err == nil {
		t.Error("overflowing product accepted")
	}
	if _, err := conditionDate(""); err == nil {
		t.Error(`date("") accepted`)
	}
}

// TestUnroutable: a node whose roles and groups hold nobody is the organisation's problem
// (Unroutable), named with its sources; a node whose field the input left empty is the
// input's.
func TestUnroutable(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `
key: unroutable
name: Unroutable
system: test
fields:
  owner: {type: user}
nodes:
  - key: review
    name: Review
    handlers: [{role: finance}, {group: leads}]
  - key: owner
    name: Owner
    handlers: [{field: owner}]
`)
	_, err := def.Route(RouteInput{Values: Values{"owner": "o1"}, Submitter: Submitter{ID: "s1"}}, nil)
	if !Unroutable(err) {
		t.Fatalf("an empty directory: Unroutable(%v) = false", err)
	}
	wantProblems(t, err, []string{"nodes[0].handlers: resolve to nobody: node review (Review) has no enabled user among role finance, group leads"})
	_, err = def.Route(RouteInput{Values: Values{}, Submitter: Submitter{ID: "s1"}}, StaticDirectory{Roles: map[string][]string{"finance": {"f1"}}})
	if err == nil || Unroutable(err) {
		t.Fatalf("an owner field left empty: Unroutable(%v) = true", err)
	}
	_, err = def.Route(RouteInput{Values: Values{}, Submitter: Submitter{ID: "s1"}}, nil)
	if err == nil || Unroutable(err) || len(AsProblems(err)) != 2 {
		t.Fatalf("both: Unroutable(%v) = true", err)
	}
	if Unroutable(nil) || Unroutable(errors.New("x")) {
		t.Fatal("Unroutable of no problems")
	}
}

// users is a UserDirectory over StaticDirectory: only the users listed can take work.
type users struct {
	StaticDirectory
	enabled []string
}

func (u users) Available(id string) bool { return slices.Contains(u.enabled, id) }

// TestRouteLeavesOutUnavailableUsers: with a directory that knows its users, work goes to
// no name that no enabled user holds. A user the definition names is left out (and a node
// left with nobody is the organisation's problem); a user a field or a pick names is the
// input's problem; a user copied in by a field is left out of the copy.
func TestRouteLeavesOutUnavailableUsers(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `
key: users
name: Users
system: test
fields:
  owner: {type: user}
  team: {type: user_list}
nodes:
  - key: boss
    name: Boss
    handlers: [{user: boss}, {user: deputy}]
    cc: [{field: owner}]
  - key: owner
    name: Owner
    handlers: [{field: team}]
  - key: picked
    name: Picked
    handlers: [{chosen: true}]
`)
	dir := users{enabled: []string{"deputy", "t1", "p1"}}
	in := RouteInput{Values: Values{"owner": "gone", "team": []string{"t1"}}, Submitter: Submitter{ID: "s1"}, Chosen: map[string][]string{"picked": {"p1"}}}
	plan, err := def.Route(in, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plan[0].Handlers, []string{"deputy"}) || len(plan[0].CC) != 0 {
		t.Fatalf("boss node: handlers %v cc %v, want deputy alone and no copy to the unknown owner", plan[0].Handlers, plan[0].CC)
	}
	_, err = def.Route(in, users{enabled: []string{"t1", "p1"}})
	if !Unroutable(err) {
		t.Fatalf("a node whose named users are all unavailable: %v", err)
	}
	wantProblems(t, err, []string{"nodes[0].handlers: resolve to nobody: node boss (Boss) has no enabled user among user boss, user deputy"})
	in.Values["team"] = []string{"t1", "left"}
	in.Chosen["picked"] = []string{"nobody"}
	_, err = def.Route(in, dir)
	if Unroutable(err) {
		t.Fatalf("users named by the input are the input's problem: %v", err)
	}
	wantProblems(t, err, []string{"fields.team[1]: left cannot take work here: no enabled user has that id",
		"chosen.picked[0]: nobody cannot take work here: no enabled user has that id"})
}
