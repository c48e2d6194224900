package process

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// Bounds on a condition.
const (
	// MaxConditionLength is the longest condition source, in bytes.
	MaxConditionLength = 1000
	// MaxConditionNodes is the largest condition syntax tree, in nodes.
	MaxConditionNodes = 200
)

// Submitter is the principal submitting a ticket, as conditions and handler resolution see
// it. In conditions it is the variable submitter with members id, department, roles,
// groups and attrs. Attributes hold directory attributes (level, region...) as JSON-like
// values: string, float64, int, bool or []string; conditions check their types when they
// run, so `submitter.attrs.level >= 3` fails routing if level is a string, and reading a
// missing attribute gives nil.
type Submitter struct {
	ID         string
	Department string
	Roles      []string
	Groups     []string
	Attributes map[string]any
}

type submitterEnv struct {
	ID         string         `expr:"id"`
	Department string         `expr:"department"`
	Roles      []string       `expr:"roles"`
	Groups     []string       `expr:"groups"`
	Attributes map[string]any `expr:"attrs"`
}

// reservedNames are names a field may not take: keywords of the condition language and
// the submitter variable. A field may take the name of a condition function (count, date,
// ...); the field then hides that function in the definition's conditions.
var reservedNames = map[string]bool{
	"true": true, "false": true, "nil": true, "in": true, "not": true, "and": true, "or": true,
	"matches": true, "contains": true, "let": true, "if": true, "else": true, "submitter": true,
}

var (
	moneyType      = reflect.TypeOf(Money{})
	timeType       = reflect.TypeOf(time.Time{})
	attachmentType = reflect.TypeOf(Attachment{})
)

// conditionEnv is the typed variable set that conditions of one definition compile and
// run against: one variable per field, typed after the field, and the submitter.
type conditionEnv struct {
	fields   []Field
	rowTypes map[string]reflect.Type
	options  []expr.Option
}

func newConditionEnv(fields []Field) *conditionEnv {
	c := &conditionEnv{
		fields:   fields,
		rowTypes: map[string]reflect.Type{},
	}
	sample := make(map[string]any, len(fields)+1)
	for i := range fields {
		f := &fields[i]
		if f.Type == TypeTable {
			cols := make([]reflect.StructField, len(f.Columns))
			for j := range f.Columns {
				cols[j] = reflect.StructField{
					Name: "F" + strconv.Itoa(j),
					Type: exprType(&f.Columns[j], nil),
					Tag:  reflect.StructTag(`expr:"` + f.Columns[j].Name + `"`),
				}
			}
			c.rowTypes[f.Name] = reflect.StructOf(cols)
		}
		sample[f.Name] = reflect.Zero(exprType(f, c.rowTypes[f.Name])).Interface()
	}
	sample["submitter"] = submitterEnv{}
	c.options = append(conditionOptions(), expr.Env(sample))
	return c
}

// exprType is the Go type a field's value has inside conditions.
func exprType(f *Field, row reflect.Type) reflect.Type {
	switch f.Type {
	case TypeNumber:
		if f.Integer {
			return reflect.TypeOf(0)
		}
		return reflect.TypeOf(0.0)
	case TypeMoney:
		return moneyType
	case TypeBoolean:
		return reflect.TypeOf(false)
	case TypeDate, TypeDateTime:
		return timeType
	case TypeUserList:
		return reflect.TypeOf([]string(nil))
	case TypeAttachment:
		return attachmentType
	case TypeAttachmentList:
		return reflect.TypeOf([]Attachment(nil))
	case TypeTable:
		return reflect.SliceOf(row)
	default:
		return reflect.TypeOf("")
	}
}

func conditionOptions() []expr.Option {
	opts := []expr.Option{
		expr.AsBool(),
		expr.MaxNodes(MaxConditionNodes),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("timezone"),
		expr.DisableBuiltin("repeat"),
		expr.Function("date", conditionDate, new(func(string) time.Time)),
	}
	compare := []any{
		new(func(Money, Money) bool), new(func(Money, int) bool), new(func(Money, float64) bool),
		new(func(int, Money) bool), new(func(float64, Money) bool),
	}
	for _, op := range []string{"<", "<=", ">", ">=", "==", "!="} {
		name := "_money" + strconv.Itoa(len(opts))
		opts = append(opts, expr.Function(name, moneyCompare(op), compare...), expr.Operator(op, name))
	}
	sum := []any{
		new(func(Money, Money) Money), new(func(Money, int) Money), new(func(Money, float64) Money),
		new(func(int, Money) Money), new(func(float64, Money) Money),
	}
	for _, op := range []string{"+", "-", "*"} {
		sigs := sum
		if op == "*" {
			sigs = sum[1:]
		}
		name := "_money" + strconv.Itoa(len(opts))
		opts = append(opts, expr.Function(name, moneyArithmetic(op), sigs...), expr.Operator(op, name))
	}
	return opts
}

// conditionDate is the date function of conditions: date("2024-01-31") is midnight UTC of
// that day; an RFC 3339 date-time is accepted as well.
func conditionDate(params ...any) (any, error) {
	s, _ := params[0].(string)
	if d, err := ParseDate(s); err == nil {
		return d.Time(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("date(%q): want YYYY-MM-DD or an RFC 3339 date-time", s)
	}
	return t, nil
}

var errNotFinite = errors.New("a money amount cannot be combined with an infinite or NaN number")

func moneyOperand(v any) (decimal.Decimal, int32, error) {
	switch x := v.(type) {
	case Money:
		return x.amount, x.scale, nil
	case int:
		return decimal.NewFromInt(int64(x)), 0, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return decimal.Decimal{}, 0, errNotFinite
		}
		d := decimal.NewFromFloat(x)
		return d, max(0, -d.Exponent()), nil
	}
	return decimal.Decimal{}, 0, fmt.Errorf("cannot use %T as a money amount", v)
}

func moneyOperands(params []any) (a, b decimal.Decimal, scale int32, err error) {
	if len(params) != 2 {
		return a, b, 0, fmt.Errorf("want 2 operands, got %d", len(params))
	}
	a, sa, err := moneyOperand(params[0])
	if err != nil {
		return a, b, 0, err
	}
	b, sb, err := moneyOperand(params[1])
	return a, b, max(sa, sb), err
}

func moneyCompare(op string) func(params ...any) (any, error) {
	return func(params ...any) (any, error) {
		a, b, _, err := moneyOperands(params)
		if err != nil {
			return nil, err
		}
		c := a.Cmp(b)
		switch op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		case ">=":
			return c >= 0, nil
		case "==":
			return c == 0, nil
		default:
			return c != 0, nil
		}
	}
}

func moneyArithmetic(op string) func(params ...any) (any, error) {
	return func(params ...any) (any, error) {
		a, b, scale, err := moneyOperands(params)
		if err != nil {
			return nil, err
		}
		var r decimal.Decimal
		switch op {
		case "+":
			r = a.Add(b)
		case "-":
			r = a.Sub(b)
		default:
			r = a.Mul(b)
			scale = max(scale, -r.Exponent())
		}
		if r.Abs().Cmp(decimal.New(1, 2*LimitIntegerDigits)) >= 0 {
			return nil, errors.New("money amount out of range")
		}
		return Money{amount: r, scale: min(scale, 2*LimitScale)}, nil
	}
}

// compile checks a condition's size and compiles it against the env: unknown names,
// type errors and non-boolean results are errors.
func (c *conditionEnv) compile(src string) (*vm.Program, error) {
	switch {
	case strings.TrimSpace(src) == "":
		return nil, errors.New("must not be empty (leave the key out for a node that always applies)")
	case len(src) > MaxConditionLength:
		return nil, fmt.Errorf("must be at most %d bytes long", MaxConditionLength)
	}
	prog, err := expr.Compile(src, c.options...)
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, errors.New(msg)
	}
	if tree, err := parser.Parse(src); err != nil || nestedPredicate(tree.Node) {
		return nil, errors.New("predicates (all, any, filter, map, ...) must not be nested: a condition must run in time linear in the ticket's size")
	}
	return prog, nil
}

// nestedPredicate reports whether a predicate of a builtin such as any or filter holds
// another predicate, which would let a condition run in time quadratic (or worse) in the
// size of a table.
func nestedPredicate(root ast.Node) bool {
	nested := false
	ast.Walk(&root, visitFunc(func(n *ast.Node) {
		p, ok := (*n).(*ast.PredicateNode)
		if !ok || nested {
			return
		}
		ast.Walk(&p.Node, visitFunc(func(inner *ast.Node) {
			if _, ok := (*inner).(*ast.PredicateNode); ok {
				nested = true
			}
		}))
	}))
	return nested
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// eval runs a compiled condition on values and the submitter.
func (c *conditionEnv) eval(prog *vm.Program, values Values, sub Submitter) (bool, error) {
	env, err := c.bind(values, sub)
	if err != nil {
		return false, err
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return false, errors.New(msg)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %T, want a boolean", out)
	}
	return b, nil
}

// bind builds the variables of one evaluation: each field's value converted to its
// condition type (the zero value when absent) and the submitter.
func (c *conditionEnv) bind(values Values, sub Submitter) (map[string]any, error) {
	env := make(map[string]any, len(c.fields)+1)
	for i := range c.fields {
		f := &c.fields[i]
		v, err := c.convert(f, values[f.Name], c.rowTypes[f.Name])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		env[f.Name] = v
	}
	env["submitter"] = submitterEnv(sub)
	return env, nil
}

func (c *conditionEnv) convert(f *Field, v any, row reflect.Type) (any, error) {
	want := exprType(f, row)
	if v == nil {
		return reflect.Zero(want).Interface(), nil
	}
	switch x := v.(type) {
	case int64:
		if f.Type == TypeNumber && f.Integer {
			return int(x), nil
		}
	case float64:
		if f.Type == TypeNumber && !f.Integer {
			return x, nil
		}
	case Date:
		if f.Type == TypeDate {
			return x.Time(), nil
		}
	case []Values:
		if f.Type == TypeTable {
			return c.rows(f, x, row)
		}
	}
	if reflect.TypeOf(v) != want {
		return nil, fmt.Errorf("holds %T, not a normalised %s value", v, f.Type)
	}
	return v, nil
}

func (c *conditionEnv) rows(f *Field, rows []Values, row reflect.Type) (any, error) {
	out := reflect.MakeSlice(reflect.SliceOf(row), len(rows), len(rows))
	for i, r := range rows {
		for j := range f.Columns {
			col := &f.Columns[j]
			v, err := c.convert(col, r[col.Name], nil)
			if err != nil {
				return nil, fmt.Errorf("row %d: column %s: %w", i, col.Name, err)
			}
			out.Index(i).Field(j).Set(reflect.ValueOf(v))
		}
	}
	return out.Interface(), nil
}
