package process

import (
	"testing"
)

func FuzzParseDefinition(f *testing.F) {
	for _, n := range Examples() {
		src, err := Example(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
		def, err := Parse(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(def.Document())
	}
	for _, s := range []string{
		minimal, handlersDef, conditionDef, typesDef,
		"key: [", "", "- a", "key: &a x\nname: *a\n", "{}", `{"key": "a\/b"}`,
		minimal + "settings:\n  <<: {urge_interval: 1h}\n",
		minimal + "fields:\n  t: {type: table, columns: {u: {type: table}}}\n",
		minimal + "    when: amount > 1\n",
		minimal + "    sla: {due: 1d12h, remind: 90m}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		def, err := Parse(src)
		if err != nil {
			if AsProblems(err) == nil {
				t.Fatalf("Parse error %v holds no Problems", err)
			}
			return
		}
		again, err := Parse(def.Document())
		if err != nil {
			t.Fatalf("the canonical document does not parse: %v\n%s", err, def.Document())
		}
		if again.Digest() != def.Digest() {
			t.Fatalf("the canonical document does not round-trip:\n%s\n%s", def.Document(), again.Document())
		}
		values, err := def.ValidateFields(map[string]any{})
		if err != nil {
			return
		}
		_, _ = def.Route(RouteInput{Values: values, Submitter: Submitter{ID: "s"}}, directory)
	})
}

func FuzzCondition(f *testing.F) {
	def := mustParse(f, conditionDef)
	values, err := def.ValidateJSON([]byte(conditionValues))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`amount > 1000`, `amount >= 1000.10 && fee < 10`, `amount * 3 - fee == 0`,
		`submitter.department == "sales"`, `"vip" in submitter.roles`, `submitter.attrs.level > 2`,
		`any(items, .price > 100)`, `all(1..100000000, true)`, `len(team) > 1 ? true : false`,
		`day > date("2024-01-01")`, `date(note) == at`, `1/0 > amount`, `items[9].qty == 1`,
		`let x = amount; x > 1`, `note matches "^a+$"`, `toJSON(items) != ""`, `nope`, `amount +`,
		`reduce(1..1000, #acc + #, 0) > 10`, `map(1..10000, map(1..10000, #)) != nil`,
		`all(items, any(items, .qty > 0))`, `count(1..999999, # > 5) > 0`,
	} {
		f.Add(s)
	}
	sub := Submitter{ID: "wang", Department: "sales", Roles: []string{"vip"}, Attributes: map[string]any{"level": 3.0}}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := def.env.compile(src)
		if err != nil {
			return
		}
		_, _ = def.env.eval(prog, values, sub)
		_, _ = def.env.eval(prog, Values{}, Submitter{})
	})
}
