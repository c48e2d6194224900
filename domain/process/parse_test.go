package process

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustParse(t testing.TB, src string) *Definition {
	t.Helper()
	def, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return def
}

func mustExample(t testing.TB, name string) *Definition {
	t.Helper()
	src, err := Example(name)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(src))
}

// minimal is a valid definition that the cases below extend.
const minimal = `
key: leave
name: Leave
system: hr
nodes:
  - key: manager
    name: Manager
    handlers: [{role: managers}]
`

func wantProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want problems %q", want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
	}
	ps := AsProblems(err)
	if ps == nil {
		t.Fatalf("error %v holds no Problems", err)
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			if strings.Contains(p.Error(), w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem contains %q; got:\n%v", w, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax error", "key: [", []string{"yaml:"}},
		{"empty", "", []string{"the document is empty"}},
		{"comment only", "# nothing\n", []string{"the document is empty"}},
		{"two documents", minimal + "---\nkey: x\n", []string{"more than one document"}},
		{"not a mapping", "- a\n- b\n", []string{"want a mapping, got a list"}},
		{"missing required", "description: x\n", []string{"key: is required", "name: is required", "system: is required", "nodes: is required"}},
		{"version given", minimal + "version: 2\n", []string{"version: is assigned at publication"}},
		{"unknown key", minimal + "owner: x\n", []string{"owner: unknown key"}},
		{"duplicate key", minimal + "name: Again\n", []string{"name: duplicate key"}},
		{"alias", "key: &k leave\nname: *k\nsystem: hr\nnodes: []\n", []string{"name: YAML aliases are not supported"}},
		{"merge key", minimal + "settings:\n  <<: {urge_interval: 1h}\n", []string{"settings: YAML merge keys (<<) are not supported"}},
		{"non-string key", minimal + "? [a]\n: 1\n", []string{"keys must be strings"}},
		{"bad slug", strings.Replace(minimal, "key: leave", "key: Leave_1", 1), []string{`key: "Leave_1" is not a valid process key`}},
		{"bad system", strings.Replace(minimal, "system: hr", "system: -hr", 1), []string{`system: "-hr" is not a valid system slug`}},
		{"custom tag", strings.Replace(minimal, "name: Leave", "name: !secret x", 1), []string{"name: want a string, got a value tagged !secret"}},
		{"name not string", strings.Replace(minimal, "name: Leave", "name: true", 1), []string{"name: want a string, got a boolean"}},
		{"blank name", strings.Replace(minimal, "name: Leave", `name: "  "`, 1), []string{"name: must not be empty"}},
		{"a NUL in the name", strings.Replace(minimal, "name: Leave", `name: "Le\0ave"`, 1), []string{"name: must not contain the NUL character (U+0000)"}},
		{"no nodes", "key: a\nname: A\nsystem: s\nnodes: []\n", []string{"nodes: must hold at least one node"}},
		{"nodes not a list", "key: a\nname: A\nsystem: s\nnodes: {}\n", []string{"nodes: want a list, got a mapping"}},
		{"too large", minimal + "description: " + strings.Repeat("x", MaxSourceSize) + "\n", []string{"more than the"}},

		{"field without type", minimal + "fields:\n  a: {label: A}\n", []string{"fields.a.type: is required"}},
		{"field type unknown", minimal + "fields:\n  a: {type: blob}\n", []string{`fields.a.type: unknown field type "blob"`}},
		{"field name invalid", minimal + "fields:\n  Amount: {type: text}\n", []string{`fields.Amount: "Amount" is not a valid field name`}},
		{"field name reserved", minimal + "fields:\n  nil: {type: text}\n  submitter: {type: user}\n", []string{`fields.nil: "nil" is reserved`, `fields.submitter: "submitter" is reserved`}},
		{"field not a mapping", minimal + "fields:\n  a: text\n", []string{"fields.a: want a mapping, got a string"}},
		{"fields not a mapping", minimal + "fields: [a]\n", []string{"fields: want a mapping, got a list"}},
		{"key not allowed for type", minimal + "fields:\n  a: {type: money, pattern: x, max_length: 3}\n", []string{"fields.a.pattern: is not allowed for a money field", "fields.a.max_length: is not allowed for a money field"}},
		{"unknown field key", minimal + "fields:\n  a: {type: text, hint: x}\n", []string{"fields.a.hint: unknown key"}},
		{"required not bool", minimal + "fields:\n  a: {type: text, required: yes}\n", []string{"fields.a.required: want true or false, got a string"}},
		{"bad pattern", minimal + "fields:\n  a: {type: text, pattern: \"[\"}\n", []string{"fields.a.pattern: not a valid regular expression"}},
		{"long pattern", minimal + "fields:\n  a: {type: text, pattern: \"" + strings.Repeat("a", LimitPattern+1) + "\"}\n", []string{"fields.a.pattern: must be at most"}},
		{"length bounds", minimal + "fields:\n  a: {type: text, min_length: 10, max_length: 5}\n", []string{"fields.a.max_length: must be ≥ min_length (10)"}},
		{"length not integer", minimal + "fields:\n  a: {type: text, max_length: 1.5}\n", []string{"fields.a.max_length: want a whole number, got a number"}},
		{"length too large", minimal + "fields:\n  a: {type: text, max_length: 99999999}\n", []string{"fields.a.max_length: must be a whole number in 1..1048576"}},
		{"money max below min", minimal + "fields:\n  amount: {type: money, min: \"10\", max: \"5\"}\n", []string{"fields.amount.max: must be ≥ min"}},
		{"money bound scale", minimal + "fields:\n  amount: {type: money, scale: 0, max: \"5.5\"}\n", []string{"fields.amount.max: 5.5 has more than 0 decimal places"}},
		{"money bound text", minimal + "fields:\n  amount: {type: money, max: 1e3}\n", []string{`fields.amount.max: "1e3" is not a decimal amount`}},
		{"money currency", minimal + "fields:\n  amount: {type: money, currency: yuan}\n", []string{`fields.amount.currency: "yuan" is not an ISO 4217`}},
		{"money scale range", minimal + "fields:\n  amount: {type: money, scale: 9}\n", []string{"fields.amount.scale: must be a whole number in 0..8"}},
		{"number bound", minimal + "fields:\n  n: {type: number, min: abc}\n", []string{`fields.n.min: "abc" is not a number`}},
		{"number max below min", minimal + "fields:\n  n: {type: number, min: 3, max: 2.5}\n", []string{"fields.n.max: must be ≥ min"}},
		{"integer bound", minimal + "fields:\n  n: {type: number, integer: true, min: 1.5}\n", []string{"fields.n.min: must be a whole number for an integer field"}},
		{"date bound", minimal + "fields:\n  d: {type: date, min: \"2024-02-30\"}\n", []string{`fields.d.min: "2024-02-30" is not a date YYYY-MM-DD`}},
		{"date max below min", minimal + "fields:\n  d: {type: date, min: 2024-02-01, max: 2024-01-01}\n", []string{"fields.d.max: must be ≥ min"}},
		{"datetime bound", minimal + "fields:\n  d: {type: datetime, max: \"yesterday\"}\n", []string{`fields.d.max: "yesterday" is not an RFC 3339 date-time`}},
		{"enum without values", minimal + "fields:\n  e: {type: enum}\n", []string{"fields.e.values: is required for an enum field"}},
		{"enum empty values", minimal + "fields:\n  e: {type: enum, values: []}\n", []string{"fields.e.values: must list 1 to"}},
		{"enum duplicate", minimal + "fields:\n  e: {type: enum, values: [a, {value: a, label: A}, {label: B}, {value: c, x: 1}]}\n", []string{`fields.e.values[1]: duplicate value "a"`, "fields.e.values[2]: the value must be a non-empty string", "fields.e.values[3].x: unknown key"}},
		{"list bounds", minimal + "fields:\n  u: {type: user_list, min_items: 5, max_items: 2}\n", []string{"fields.u.max_items: must be ≥ min_items (5)"}},
		{"rows on list", minimal + "fields:\n  u: {type: user_list, max_rows: 2}\n", []string{"fields.u.max_rows: is not allowed for a user_list field"}},
		{"table without columns", minimal + "fields:\n  t: {type: table}\n", []string{"fields.t.columns: is required for a table field"}},
		{"table empty columns", minimal + "fields:\n  t: {type: table, columns: {}}\n", []string{"fields.t.columns: must hold at least one column"}},
		{"nested table", minimal + "fields:\n  t: {type: table, columns: {u: {type: table, columns: {a: {type: text}}}}}\n", []string{"fields.t.columns.u.type: a table column cannot be a table"}},
		{"table rows bounds", minimal + "fields:\n  t: {type: table, min_rows: 3, max_rows: 1, columns: {a: {type: text}}}\n", []string{"fields.t.max_rows: must be ≥ min_rows (3)"}},
		{"column problem", minimal + "fields:\n  t: {type: table, columns: {price: {type: money, min: x}}}\n", []string{`fields.t.columns.price.min: "x" is not a decimal amount`}},

		{"node key missing", "key: a\nname: A\nsystem: s\nnodes:\n  - name: N\n    handlers: [{user: u}]\n", []string{"nodes[0].key: is required"}},
		{"node key reserved", "key: a\nname: A\nsystem: s\nnodes:\n  - key: end\n    name: N\n    handlers: [{user: u}]\n", []string{`nodes[0].key: "end" is reserved`}},
		{"node key invalid", "key: a\nname: A\nsystem: s\nnodes:\n  - key: Boss\n    name: N\n    handlers: [{user: u}]\n", []string{`nodes[0].key: "Boss" is not a valid node key`}},
		{"node not a mapping", "key: a\nname: A\nsystem: s\nnodes: [x]\n", []string{"nodes[0]: want a mapping, got a string"}},
		{"node unknown key", minimal + "    approvers: []\n", []string{"nodes[0].approvers: unknown key"}},
		{"no handlers", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n", []string{"nodes[0].handlers: is required"}},
		{"empty handlers", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: []\n", []string{"nodes[0].handlers: must hold at least one handler"}},
		{"handler kind unknown", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{boss: x}]\n", []string{`nodes[0].handlers[0]: unknown handler kind "boss"`}},
		{"handler two kinds", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{user: a, role: b}]\n", []string{"nodes[0].handlers[0]: give exactly one of"}},
		{"handler empty role", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{role: \"\"}]\n", []string{"nodes[0].handlers[0].role: must not be empty"}},
		{"handler role spaces", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{role: \" fin\"}]\n", []string{"nodes[0].handlers[0].role: must not start or end with spaces"}},
		{"handler field missing", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{field: owner}]\n", []string{`nodes[0].handlers[0].field: no field "owner"`}},
		{"handler field type", "key: a\nname: A\nsystem: s\nfields: {owner: {type: text}}\nnodes:\n  - key: n\n    name: N\n    handlers: [{field: owner}]\n", []string{`nodes[0].handlers[0].field: field "owner" has type text, want user or user_list`}},
		{"handler submitter false", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{submitter: false}]\n", []string{"nodes[0].handlers[0].submitter: must be true"}},
		{"chosen false", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{chosen: false}]\n", []string{"nodes[0].handlers[0].chosen: must be true or a mapping"}},
		{"chosen role and group", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{chosen: {role: a, group: b, size: 1}}]\n", []string{"nodes[0].handlers[0].chosen: give role or group, not both", "nodes[0].handlers[0].chosen.size: unknown key"}},
		{"two chosen", "key: a\nname: A\nsystem: s\nnodes:\n  - key: n\n    name: N\n    handlers: [{chosen: true}, {chosen: {max: 2}}]\n", []string{"nodes[0].handlers[1]: a node takes at most one chosen handler"}},
		{"chosen as cc", minimal + "    cc: [{chosen: true}]\n", []string{"nodes[0].cc[0]: chosen approvers cannot be CC recipients"}},
		{"cc kind", minimal + "    cc: [{x: true}]\n", []string{`nodes[0].cc[0]: unknown handler kind "x" (want one of user, role, group, field, submitter)`}},
		{"mode", minimal + "    mode: any\n", []string{`nodes[0].mode: unknown mode "any"`}},
		{"empty policy", minimal + "    empty: ignore\n", []string{`nodes[0].empty: unknown policy "ignore"`}},
		{"visible unknown", minimal + "    visible: [a]\n", []string{`nodes[0].visible[0]: no field "a"`}},
		{"visible twice", minimal + "    visible: [a, a]\nfields: {a: {type: text}}\n", []string{`nodes[0].visible[1]: field "a" is listed twice`}},
		{"visible not a list", minimal + "    visible: a\n", []string{"nodes[0].visible: want a list, got a string"}},
		{"editable not visible", minimal + "    visible: [a]\n    editable: [b]\nfields: {a: {type: text}, b: {type: text}}\n", []string{`nodes[0].editable[0]: field "b" is not visible at this node`}},
		{"sla negative", minimal + "    sla: -1h\n", []string{`nodes[0].sla: duration "-1h" must be positive`}},
		{"sla remind too long", minimal + "    sla: {due: 1h, remind: 2h}\n", []string{"nodes[0].sla.remind: must be shorter than due"}},
		{"sla remind alone", minimal + "    sla: {remind: 2h}\n", []string{"nodes[0].sla.due: is required with remind"}},
		{"sla unknown", minimal + "    sla: {due: 2h, escalate: 1h}\n", []string{"nodes[0].sla.escalate: unknown key"}},
		{"sla not duration", minimal + "    sla: soon\n", []string{`nodes[0].sla: "soon" is not a duration`}},
		{"sla too long", minimal + "    sla: 400d\n", []string{`nodes[0].sla: "400d" is not a duration`}},
		{"sla subsecond", minimal + "    sla: 1500ms\n", []string{"must be a whole number of seconds"}},
		{"settings", minimal + "settings: {urge_interval: 0s, sla: 2h, node_sla: {due: 1h}, notify: x}\n", []string{`settings.urge_interval: duration "0s" must be positive`, "settings.notify: unknown key"}},
		{"reject unknown", minimal + "    reject: hr\n", []string{`nodes[0].reject: no node "hr"`}},
		{"reject self", minimal + "    reject: manager\n", []string{`nodes[0].reject: node "manager" is not earlier than this node`}},
		{"duplicate node", minimal + "  - key: manager\n    name: Again\n    handlers: [{user: u}]\n", []string{`nodes[1].key: duplicate node key "manager" (also nodes[0])`}},
		{"condition unknown name", minimal + "    when: amount > 1\n", []string{"nodes[0].when: unknown name amount"}},
		{"condition not bool", minimal + "    when: \"1 + 1\"\nfields: {}\n", []string{"nodes[0].when: expected bool"}},
		{"condition type error", minimal + "    when: 'amount > \"x\"'\nfields: {amount: {type: money}}\n", []string{"nodes[0].when: invalid operation"}},
		{"condition empty", minimal + "    when: \" \"\n", []string{"nodes[0].when: must not be empty"}},
		{"condition too long", minimal + "    when: \"" + strings.Repeat("1 == 1 && ", 120) + "true\"\n", []string{"nodes[0].when: must be at most 1000 bytes long"}},
		{"condition too big", minimal + "    when: \"" + strings.Repeat("1+", 300) + "1 > 0\"\n", []string{"nodes[0].when: compilation failed: expression exceeds maximum allowed nodes"}},
		{"condition now", minimal + "    when: now() > date('2024-01-01')\n", []string{"nodes[0].when: unknown name now"}},
		{"condition nested predicates", minimal + "    when: all(lines, any(lines, .n > 1))\nfields: {lines: {type: table, columns: {n: {type: number}}}}\n", []string{"nodes[0].when: predicates (all, any, filter, map, ...) must not be nested"}},
		{"condition not string", minimal + "    when: [a]\n", []string{"nodes[0].when: want a string, got a list"}},
		{"too many problems", minimal + "fields: {" + strings.Repeat("a: {type: text}, ", 150) + "}\n", []string{"fields.a: duplicate key", "and 49 more problems"}},
		{"many problems", "key: A\nname: 3\nsystem: s\nfields: {x: {type: y}}\nnodes: [{key: n, name: N, handlers: [{user: u}], reject: m}]\n", []string{`key: "A"`, `fields.x.type: unknown field type "y"`, `nodes[0].reject: no node "m"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse([]byte(tt.src))
			if def != nil {
				t.Errorf("got a definition, want none")
			}
			wantProblems(t, err, tt.want)
		})
	}
}

func TestParseReadsEverything(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `
key: purchase
name: Purchase
description: Buy things.
system: erp
settings:
  urge_interval: 1h30m
  sla: 2d
  node_sla: {due: 8h, remind: 1h}
fields:
  title: {type: text, label: Title, description: What, required: true, min_length: 2, max_length: 80, pattern: "[a-z ]+"}
  qty: {type: number, integer: true, min: 1, max: 100}
  weight: {type: number, min: -1.5, max: "2.5"}
  amount: {type: money, currency: CNY, scale: 2, min: "0.01", max: 5000}
  urgent: {type: boolean}
  due: {type: date, min: 2024-01-01, max: "2030-12-31"}
  at: {type: datetime, min: "2024-01-01T00:00:00+08:00"}
  kind: {type: enum, values: [a, {value: b, label: Bee}, 3]}
  owner: {type: user}
  reviewers: {type: user_list, min_items: 1, max_items: 3}
  quote: {type: attachment}
  files: {type: attachment_list, max_items: 2}
  lines: {type: table, min_rows: 1, max_rows: 10, columns: {sku: {type: text, required: true}, price: {type: money, scale: 3}}}
nodes:
  - key: lead
    name: Team lead
    description: First look.
    handlers: [{field: owner}, {field: reviewers}, {submitter: true}]
    mode: sequential
    visible: [title, amount, qty]
    editable: [qty]
    cc: [{group: watchers}, {user: boss}]
    empty: skip
  - key: finance
    name: Finance
    when: amount > 1000 && submitter.department != "finance"
    handlers: [{role: finance}, {group: fin-team}, {user: cfo}, {chosen: {role: finance, max: 2}}]
    mode: all_of
    sla: {due: 4h}
    reject: lead
  - key: pick
    name: Pick
    handlers: [{chosen: true}]
`)
	if def.Key() != "purchase" || def.Name() != "Purchase" || def.Description() != "Buy things." || def.System() != "erp" {
		t.Errorf("header = %q %q %q %q", def.Key(), def.Name(), def.Description(), def.System())
	}
	s := def.Settings()
	if s.UrgeInterval != 90*time.Minute || s.SLA.Due != 48*time.Hour || s.NodeSLA != (SLA{8 * time.Hour, time.Hour}) {
		t.Errorf("settings = %+v", s)
	}
	if got := len(def.Fields()); got != 13 {
		t.Fatalf("len(Fields()) = %d, want 13", got)
	}
	amount, ok := def.Field("amount")
	if !ok || amount.Min != "0.01" || amount.Max != "5000.00" || amount.Scale != 2 || amount.Currency != "CNY" {
		t.Errorf("amount = %+v", amount)
	}
	if weight, _ := def.Field("weight"); weight.Min != "-1.5" || weight.Max != "2.5" {
		t.Errorf("weight bounds = %q %q", weight.Min, weight.Max)
	}
	if kind, _ := def.Field("kind"); len(kind.Options) != 3 || kind.Options[1] != (Option{"b", "Bee"}) || kind.Options[2].Value != "3" {
		t.Errorf("kind options = %+v", kind.Options)
	}
	if lines, _ := def.Field("lines"); len(lines.Columns) != 2 || lines.MinItems != 1 || lines.MaxItems != 10 || lines.Columns[1].Scale != 3 {
		t.Errorf("lines = %+v", lines)
	}
	if _, ok := def.Field("nope"); ok {
		t.Error("Field(nope) found")
	}
	lead, i, ok := def.Node("lead")
	if !ok || i != 0 || lead.Mode != ModeSequential || lead.Empty != EmptySkip || len(lead.Handlers) != 3 || len(lead.CC) != 2 || lead.Reject != RejectEnd {
		t.Errorf("lead = %+v", lead)
	}
	fin, i, _ := def.Node("finance")
	if i != 1 || fin.Mode != ModeAllOf || fin.Reject != "lead" || fin.SLA.Due != 4*time.Hour || len(fin.Handlers) != 4 {
		t.Errorf("finance = %+v", fin)
	}
	if h := fin.Handlers[3]; h.Kind != HandlerChosen || h.Role != "finance" || h.Max != 2 {
		t.Errorf("chosen = %+v", h)
	}
	if _, _, ok := def.Node("nope"); ok {
		t.Error("Node(nope) found")
	}
	if got := len(def.Nodes()); got != 3 {
		t.Errorf("len(Nodes()) = %d", got)
	}
	if got := strings.Join(def.VisibleFields("lead"), ","); got != "title,qty,amount" {
		t.Errorf("VisibleFields(lead) = %s, want field order title,qty,amount", got)
	}
	if got := len(def.VisibleFields("finance")); got != 13 {
		t.Errorf("len(VisibleFields(finance)) = %d, want all 13", got)
	}
	if got := def.EditableFields("lead"); len(got) != 1 || got[0] != "qty" {
		t.Errorf("EditableFields(lead) = %v", got)
	}
	if def.EditableFields("finance") != nil || def.EditableFields("nope") != nil || def.VisibleFields("nope") != nil {
		t.Error("want nil editable/visible lists")
	}
	blind := mustParse(t, minimal+"    visible: []\nfields:\n  days: {type: number}\n")
	if got := blind.VisibleFields("manager"); got == nil || len(got) != 0 {
		t.Errorf("VisibleFields of a node with visible: [] = %#v, want empty, not nil (nil is every field)", got)
	}
}

func TestParseCanonicalDocument(t *testing.T) {
	t.Parallel()
	yamlSrc := `
key: trip   # comment
name: Trip
system: hr
settings: {sla: 24h, urge_interval: 3600s}
fields:
  cost: {type: money, max: 100}
  days: {type: number, max: 1e1}
  when: {type: date}
nodes:
  - {key: boss, name: Boss, handlers: [{user: "b<&>"}, {chosen: {max: 1}}], visible: [], reject: end}
`
	jsonSrc := `{"nodes":[{"name":"Boss","key":"boss","handlers":[{"user":"b\u003c&>"},{"chosen":true}],"visible":[]}],
	"fields":{"cost":{"type":"money","max":"100.00","scale":2},"days":{"type":"number","max":10},"when":{"type":"date"}},
	"system":"hr","name":"Trip","key":"trip","settings":{"urge_interval":"1h","sla":{"due":"1d"}}}`
	a := mustParse(t, yamlSrc)
	b := mustParse(t, jsonSrc)
	if a.Digest() != b.Digest() {
		t.Errorf("YAML and JSON digests differ:\n%s\n%s", a.Document(), b.Document())
	}
	again := mustParse(t, string(a.Document()))
	if string(again.Document()) != string(a.Document()) {
		t.Errorf("Document does not round-trip:\n%s\n%s", a.Document(), again.Document())
	}
	if got := a.VisibleFields("boss"); len(got) != 0 {
		t.Errorf("visible: [] gives %v, want none", got)
	}
	if !strings.Contains(string(a.Document()), `"visible":[]`) {
		t.Errorf("document lost the empty visible list: %s", a.Document())
	}
	if strings.Contains(string(a.Document()), `\u003c`) {
		t.Errorf("document escapes HTML: %s", a.Document())
	}
	for _, n := range Examples() {
		def := mustExample(t, n)
		if again := mustParse(t, string(def.Document())); again.Digest() != def.Digest() {
			t.Errorf("example %s does not round-trip", n)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		text string
	}{
		{"8h", 8 * time.Hour, "8h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"2d", 48 * time.Hour, "2d"},
		{"45s", 45 * time.Second, "45s"},
		{"1h0m1s", time.Hour + time.Second, "1h1s"},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := formatDuration(got); s != tt.text {
			t.Errorf("formatDuration(%v) = %q, want %q", got, s, tt.text)
		}
	}
	for _, bad := range []string{"", "d", "1d-2h", "-1d", "x1d", "0d", "0s", "-5m", "1.5s", "367d", "1y"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
	if formatDuration(0) != "0s" {
		t.Error("formatDuration(0)")
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	ps := Problems{{Path: "a.b", Message: "bad"}, {Message: "whole"}}
	if got := ps.Error(); got != "a.b: bad\nwhole" {
		t.Errorf("Error() = %q", got)
	}
	var p Problem
	if !errors.As(error(ps), &p) || p.Path != "a.b" {
		t.Errorf("errors.As(Problem) = %+v", p)
	}
	wrapped := errors.Join(errors.New("context"), ps)
	if got := AsProblems(wrapped); len(got) != 2 {
		t.Errorf("AsProblems(wrapped) = %v", got)
	}
	if AsProblems(errors.New("x")) != nil {
		t.Error("AsProblems(plain error) != nil")
	}
	if !errors.Is(wrapped, ErrInvalid) {
		t.Error("wrapped Problems do not match ErrInvalid")
	}
}

func TestExamples(t *testing.T) {
	t.Parallel()
	if got := strings.Join(Examples(), ","); got != "data-conflict,refund" {
		t.Errorf("Examples() = %s", got)
	}
	if _, err := Example("nope"); err == nil {
		t.Error("Example(nope) succeeded")
	}
	refund := mustExample(t, "refund")
	if got := strings.Join(refund.VisibleFields("cashier"), ","); got != "amount,refund_method,order_id,payee_name,payee_account" && got != "order_id,amount,refund_method,payee_name,payee_account" {
		t.Errorf("cashier sees %s", got)
	}
	if refund.Settings().SLA.Due != 24*time.Hour {
		t.Errorf("refund SLA = %v, want 24h", refund.Settings().SLA.Due)
	}
	conflict := mustExample(t, "data-conflict")
	if n, _, _ := conflict.Node("review"); n.Handlers[0] != (Handler{Kind: HandlerRole, Value: "data-conflict"}) {
		t.Errorf("review handlers = %+v", n.Handlers)
	}
}
