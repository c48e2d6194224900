package process

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

const typesDef = `
key: types
name: Every type
system: test
fields:
  title: {type: text, min_length: 2, max_length: 5, pattern: "[a-z]+"}
  note: {type: text}
  n: {type: number, min: -1, max: 10}
  count: {type: number, integer: true, min: 0}
  amount: {type: money, scale: 2, min: "0.01", max: "1000"}
  ok: {type: boolean}
  day: {type: date, min: 2024-01-01, max: 2024-12-31}
  at: {type: datetime, min: "2024-01-01T00:00:00Z", max: "2025-01-01T00:00:00Z"}
  color: {type: enum, values: [red, green]}
  owner: {type: user}
  team: {type: user_list, min_items: 1, max_items: 2}
  doc: {type: attachment}
  docs: {type: attachment_list, max_items: 2}
  lines:
    type: table
    max_rows: 2
    columns:
      sku: {type: text, required: true}
      price: {type: money, scale: 1}
  must: {type: text, required: true}
nodes:
  - key: a
    name: A
    handlers: [{user: u}]
    visible: [title, amount, lines]
    editable: [amount]
`

func TestValidateFieldsNormalises(t *testing.T) {
	t.Parallel()
	def := mustParse(t, typesDef)
	in, err := DecodeJSON([]byte(`{
		"title": "abc", "note": "", "n": 2.5, "count": 7, "amount": 12.5, "ok": true,
		"day": "2024-02-29", "at": "2024-06-01T08:00:00+08:00", "color": "red",
		"owner": "u1", "team": ["u1", "u2"],
		"doc": {"id": "d1", "name": "a.pdf", "url": "https://files.example/a.pdf", "size": 10, "sha256": "` + strings.Repeat("AB", 32) + `", "content_type": "application/pdf"},
		"docs": [{"id": "d2", "name": "b.png"}],
		"lines": [{"sku": "s1", "price": "3"}, {"sku": "s2"}],
		"must": "x", "nil_is_absent": null
	}`))
	if err != nil {
		t.Fatal(err)
	}
	delete(in, "nil_is_absent")
	in["owner"] = "u1"
	got, err := def.ValidateFields(in)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, "2024-06-01T08:00:00+08:00")
	checks := map[string]any{
		"title": "abc", "note": "", "n": 2.5, "count": int64(7), "ok": true,
		"day": Date{2024, time.February, 29}, "color": "red", "owner": "u1",
		"team": []string{"u1", "u2"},
		"doc":  Attachment{ID: "d1", Name: "a.pdf", URL: "https://files.example/a.pdf", Size: 10, SHA256: strings.Repeat("ab", 32), ContentType: "application/pdf"},
		"docs": []Attachment{{ID: "d2", Name: "b.png"}},
		"must": "x",
	}
	for k, want := range checks {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if !got["at"].(time.Time).Equal(at) {
		t.Errorf("at = %v", got["at"])
	}
	if m := got["amount"].(Money); m.String() != "12.50" || m.Scale() != 2 || !m.Decimal().Equal(decimal.RequireFromString("12.5")) {
		t.Errorf("amount = %v", m)
	}
	rows := got["lines"].([]Values)
	if len(rows) != 2 || rows[0]["price"].(Money).String() != "3.0" || rows[1]["price"] != nil {
		t.Errorf("lines = %v", rows)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := def.ValidateJSON(b)
	if err != nil {
		t.Fatalf("re-validating the encoded values: %v\n%s", err, b)
	}
	if changed := def.Changed(got, again); changed != nil {
		t.Errorf("encode/validate changed %v", changed)
	}
	if _, err := def.ValidateFields(map[string]any(got)); err != nil {
		t.Errorf("re-validating normalised values: %v", err)
	}
	if !strings.Contains(string(b), `"amount":"12.50"`) || !strings.Contains(string(b), `"day":"2024-02-29"`) {
		t.Errorf("encoding = %s", b)
	}
}

func TestValidateFieldsRejects(t *testing.T) {
	t.Parallel()
	def := mustParse(t, typesDef)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"missing required", `{}`, []string{"fields.must: is required"}},
		{"required empty", `{"must": ""}`, []string{"fields.must: is required"}},
		{"null required", `{"must": null}`, []string{"fields.must: is required"}},
		{"unknown", `{"must": "x", "zeta": 1, "alpha": 2}`, []string{"fields.alpha: no such field", "fields.zeta: no such field"}},
		{"text type", `{"must": 1}`, []string{"fields.must: want a string, got a number"}},
		{"text short", `{"must": "x", "title": "a"}`, []string{"fields.title: must be at least 2 characters long"}},
		{"text long", `{"must": "x", "title": "abcdef"}`, []string{"fields.title: must be at most 5 characters long"}},
		{"text with a NUL", `{"must": "a\u0000b"}`, []string{"fields.must: must not contain the NUL character (U+0000)"}},
		{"text pattern", `{"must": "x", "title": "ab1"}`, []string{"fields.title: does not match the pattern [a-z]+"}},
		{"text default max", `{"must": "` + strings.Repeat("x", DefaultMaxLength+1) + `"}`, []string{"fields.must: must be at most 4000 characters long"}},
		{"number type", `{"must": "x", "n": "2"}`, []string{"fields.n: want a finite number, got a string"}},
		{"number min", `{"must": "x", "n": -2}`, []string{"fields.n: must be ≥ -1"}},
		{"number max", `{"must": "x", "n": 11}`, []string{"fields.n: must be ≤ 10"}},
		{"integer", `{"must": "x", "count": 1.5}`, []string{"fields.count: must be a whole number"}},
		{"integer huge", `{"must": "x", "count": 1e300}`, []string{"fields.count: must be a whole number"}},
		{"money scale", `{"must": "x", "amount": "1.001"}`, []string{"fields.amount: 1.001 has more than 2 decimal places"}},
		{"money text", `{"must": "x", "amount": "1,000"}`, []string{`fields.amount: "1,000" is not a decimal amount`}},
		{"money exponent", `{"must": "x", "amount": 1e2}`, []string{`fields.amount: "1e2" is not a decimal amount`}},
		{"money type", `{"must": "x", "amount": true}`, []string{"fields.amount: want an amount such as \"199.00\", got a boolean"}},
		{"money min", `{"must": "x", "amount": "0.00"}`, []string{"fields.amount: must be ≥ 0.01"}},
		{"money max", `{"must": "x", "amount": "1000.01"}`, []string{"fields.amount: must be ≤ 1000.00"}},
		{"money huge", `{"must": "x", "amount": "1000000000000000000"}`, []string{"digits before the decimal point"}},
		{"bool", `{"must": "x", "ok": "true"}`, []string{"fields.ok: want true or false, got a string"}},
		{"date format", `{"must": "x", "day": "2024-2-1"}`, []string{`fields.day: "2024-2-1" is not a date YYYY-MM-DD`}},
		{"date type", `{"must": "x", "day": 20240101}`, []string{"fields.day: want a date \"YYYY-MM-DD\", got a number"}},
		{"date min", `{"must": "x", "day": "2023-12-31"}`, []string{"fields.day: must not be before 2024-01-01"}},
		{"date max", `{"must": "x", "day": "2025-01-01"}`, []string{"fields.day: must not be after 2024-12-31"}},
		{"datetime format", `{"must": "x", "at": "2024-06-01 08:00"}`, []string{`fields.at: "2024-06-01 08:00" is not an RFC 3339 date-time`}},
		{"datetime type", `{"must": "x", "at": 1}`, []string{"fields.at: want an RFC 3339 date-time, got a number"}},
		{"datetime max", `{"must": "x", "at": "2025-01-01T00:00:01Z"}`, []string{"fields.at: must not be after"}},
		{"enum", `{"must": "x", "color": "blue"}`, []string{`fields.color: "blue" is not one of the allowed values`}},
		{"enum type", `{"must": "x", "color": 1}`, []string{"fields.color: want a string, got a number"}},
		{"user", `{"must": "x", "owner": ""}`, []string{"fields.owner: user id must not be empty"}},
		{"user type", `{"must": "x", "owner": ["a"]}`, []string{"fields.owner: want a user id, got a list"}},
		{"users type", `{"must": "x", "team": "a"}`, []string{"fields.team: want a list of user ids, got a string"}},
		{"users empty", `{"must": "x", "team": []}`, []string{"fields.team: must hold at least 1 entries"}},
		{"users too many", `{"must": "x", "team": ["a", "b", "c"]}`, []string{"fields.team: must hold at most 2 entries"}},
		{"users entries", `{"must": "x", "team": ["a", "a"]}`, []string{`fields.team[1]: user "a" is listed twice`}},
		{"users entry type", `{"must": "x", "team": [1, "a\u0001"]}`, []string{"fields.team[0]: want a user id, got a number", "fields.team[1]: user id must not hold control characters"}},
		{"attachment type", `{"must": "x", "doc": "d1"}`, []string{"fields.doc: want an attachment object"}},
		{"attachment keys", `{"must": "x", "doc": {"id": 1, "name": "", "url": "ftp://x/y", "size": -1, "sha256": "zz", "path": "/etc", "content_type": 3}}`,
			[]string{"fields.doc.id: want a string, got a number", "fields.doc.name: must be a non-empty name", "fields.doc.url: must be an absolute http or https URL", "fields.doc.size: want a whole number of bytes", "fields.doc.sha256: must be 64 hexadecimal digits", "fields.doc.path: unknown key", "fields.doc.content_type: want a string"}},
		{"attachments", `{"must": "x", "docs": [{"id": "a"}, {"id": "b", "name": "b"}, {"id": "c", "name": "c"}]}`, []string{"fields.docs: must hold at most 2 entries"}},
		{"attachments entry", `{"must": "x", "docs": [{"id": "a"}]}`, []string{"fields.docs[0].name: must be a non-empty name"}},
		{"attachments type", `{"must": "x", "docs": {}}`, []string{"fields.docs: want a list of attachments, got an object"}},
		{"table type", `{"must": "x", "lines": {}}`, []string{"fields.lines: want a list of rows, got an object"}},
		{"table rows", `{"must": "x", "lines": [{}, {}, {}]}`, []string{"fields.lines: must hold at most 2 entries"}},
		{"table cells", `{"must": "x", "lines": [{"sku": "a", "price": "1.25", "qty": 1}, 3]}`, []string{"fields.lines[0].price: 1.25 has more than 1 decimal places", "fields.lines[0].qty: no such field", "fields.lines[1]: want a row object, got a number"}},
		{"table required cell", `{"must": "x", "lines": [{"price": "1"}]}`, []string{"fields.lines[0].sku: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := def.ValidateJSON([]byte(tt.in))
			if got != nil {
				t.Errorf("got values %v, want none", got)
			}
			wantProblems(t, err, tt.want)
		})
	}
}

func TestValidateFieldsGoValues(t *testing.T) {
	t.Parallel()
	def := mustParse(t, typesDef)
	m, _ := ParseMoney("5", 0)
	got, err := def.ValidateFields(map[string]any{
		"must":   "x",
		"n":      float32(1.5),
		"count":  int32(3),
		"amount": m,
		"day":    Date{2024, time.March, 1},
		"at":     time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		"team":   []string{"a"},
		"docs":   []Attachment{{ID: "a", Name: "a"}},
		"lines":  []map[string]any{{"sku": "a", "price": 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["amount"].(Money).String() != "5.00" || got["count"] != int64(3) || got["n"] != 1.5 {
		t.Errorf("got %v", got)
	}
	for _, in := range []map[string]any{
		{"must": "x", "day": Date{2024, time.February, 30}},
		{"must": "x", "amount": 1.005},
		{"must": "x", "n": uint64(20)},
		{"must": "x", "count": int64(-1)},
		{"must": "x", "lines": []Values{{"sku": 1}}},
		{"must": "x", "title": "\xff"},
		{"must": "x", "amount": struct{}{}},
	} {
		if _, err := def.ValidateFields(in); err == nil {
			t.Errorf("ValidateFields(%v) succeeded", in)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{``, `[]`, `null`, `{"a":1} {}`, `{"a":`} {
		if _, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeJSON(%q) succeeded", bad)
		} else if AsProblems(err) == nil {
			t.Errorf("DecodeJSON(%q) error %v holds no Problems", bad, err)
		}
	}
	m, err := DecodeJSON([]byte(`{"a": 1.10}`))
	if err != nil || m["a"] != json.Number("1.10") {
		t.Errorf("DecodeJSON = %v, %v", m, err)
	}
	def := mustParse(t, typesDef)
	if _, err := def.ValidateJSON([]byte(`[`)); err == nil {
		t.Error("ValidateJSON([) succeeded")
	}
}

func TestValidateChanges(t *testing.T) {
	t.Parallel()
	def := mustParse(t, typesDef)
	current, err := def.ValidateJSON([]byte(`{"must": "x", "title": "abc", "amount": "5", "lines": [{"sku": "a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		node    string
		changes map[string]any
		want    map[string]string
		changed []string
		probs   []string
	}{
		{name: "resubmit changes and removes", changes: map[string]any{"title": "xyz", "amount": nil, "ok": true},
			want: map[string]string{"title": `"xyz"`, "ok": "true"}, changed: []string{"title", "amount", "ok"}},
		{name: "resubmit unknown", changes: map[string]any{"nope": 1}, probs: []string{"fields.nope: no such field"}},
		{name: "resubmit invalid", changes: map[string]any{"amount": "-1", "must": nil}, probs: []string{"fields.amount: must be ≥ 0.01", "fields.must: is required"}},
		{name: "node edits editable", node: "a", changes: map[string]any{"amount": "7.5"}, want: map[string]string{"amount": `"7.50"`}, changed: []string{"amount"}},
		{name: "node edits other", node: "a", changes: map[string]any{"title": "xy", "must": "y"}, probs: []string{"fields.must: is not editable at this node", "fields.title: is not editable at this node"}},
		{name: "unknown node", node: "zz", changes: map[string]any{"amount": "1"}, probs: []string{`node: no node "zz"`}},
		{name: "no change", node: "a", changes: map[string]any{"amount": "5.00"}, changed: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Values
			var err error
			if tt.node == "" {
				got, err = def.ValidateChanges(current, tt.changes)
			} else {
				got, err = def.ValidateNodeChanges(tt.node, current, tt.changes)
			}
			if tt.probs != nil {
				wantProblems(t, err, tt.probs)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range tt.want {
				b, _ := json.Marshal(got[k])
				if string(b) != w {
					t.Errorf("%s = %s, want %s", k, b, w)
				}
			}
			if c := def.Changed(current, got); !reflect.DeepEqual(c, tt.changed) {
				t.Errorf("Changed = %v, want %v", c, tt.changed)
			}
		})
	}
	if current["title"] != "abc" || current["amount"] == nil {
		t.Errorf("current values were modified: %v", current)
	}
}

func TestProjectAndClone(t *testing.T) {
	t.Parallel()
	def := mustParse(t, typesDef)
	v, err := def.ValidateJSON([]byte(`{"must": "x", "title": "abc", "amount": "5", "team": ["a"], "docs": [{"id": "a", "name": "a"}], "lines": [{"sku": "a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := def.Project("a", v)
	if len(p) != 3 || p["title"] != "abc" || p["must"] != nil {
		t.Errorf("Project(a) = %v", p)
	}
	p["lines"].([]Values)[0]["sku"] = "changed"
	if v["lines"].([]Values)[0]["sku"] != "a" {
		t.Error("Project shares rows with its input")
	}
	if len(def.Project("zz", v)) != 0 {
		t.Error("Project(unknown node) is not empty")
	}
	c := v.Clone()
	c["team"].([]string)[0] = "z"
	c["docs"].([]Attachment)[0].ID = "z"
	if v["team"].([]string)[0] != "a" || v["docs"].([]Attachment)[0].ID != "a" {
		t.Error("Clone shares slices")
	}
	if Values(nil).Clone() != nil {
		t.Error("nil Clone")
	}
	if cloneValue(Values{"a": 1}).(Values)["a"] != 1 {
		t.Error("cloneValue(Values)")
	}
}

func TestMoneyAndDate(t *testing.T) {
	t.Parallel()
	m, err := ParseMoney("-0.5", 3)
	if err != nil || m.String() != "-0.500" {
		t.Errorf("ParseMoney = %v, %v", m, err)
	}
	b, _ := json.Marshal(m)
	if string(b) != `"-0.500"` {
		t.Errorf("MarshalJSON = %s", b)
	}
	n, _ := ParseMoney("1", 0)
	if m.Cmp(n) != -1 || n.Cmp(m) != 1 || n.Cmp(n) != 0 {
		t.Error("Cmp")
	}
	for _, bad := range []string{"", "1e3", "0x10", ".5", "5.", " 1", strings.Repeat("9", 40)} {
		if _, err := ParseMoney(bad, 2); err == nil {
			t.Errorf("ParseMoney(%q) succeeded", bad)
		}
	}
	if _, err := ParseMoney("1", 9); err == nil {
		t.Error("ParseMoney scale 9 succeeded")
	}
	if (Money{}).String() != "0" {
		t.Errorf("zero Money = %q", Money{}.String())
	}
	d, err := ParseDate("2024-02-29")
	if err != nil || d.String() != "2024-02-29" || DateOf(d.Time()) != d {
		t.Errorf("ParseDate = %v, %v", d, err)
	}
	b, _ = json.Marshal(d)
	if string(b) != `"2024-02-29"` {
		t.Errorf("Date JSON = %s", b)
	}
	for _, bad := range []string{"2023-02-29", "2024-1-1", "2024-01-01T00:00:00Z", ""} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) succeeded", bad)
		}
	}
}
