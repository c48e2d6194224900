package process

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v4"
)

// Limits on the size of a definition.
const (
	// MaxSourceSize is the largest document Parse accepts, in bytes.
	MaxSourceSize = 256 << 10
	LimitFields   = 200
	LimitColumns  = 50
	LimitOptions  = 500
	LimitNodes    = 50
	LimitHandlers = 50
	// LimitPattern is the longest text pattern, in bytes.
	LimitPattern = 1000
)

var (
	slugPattern      = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	fieldNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	nodeKeyPattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	currencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Parse reads a process definition written in YAML or JSON, decodes it strictly and
// validates it: unknown keys, wrong types, broken references, bad limits and conditions
// that do not compile are all reported, each with its path, in a Problems error (which
// matches ErrInvalid). The document must not hold a version: publication assigns it.
//
// The format, with every key; only key, name, system and nodes (each with key, name and
// handlers) are required:
//
//	key: refund                 # slug: lower-case letters, digits, single hyphens
//	name: Refund
//	description: ...
//	system: shop                # slug of the business system allowed to submit
//	settings:
//	  urge_interval: 30m
//	  sla: 24h                  # whole ticket; or {due: 24h, remind: 2h}
//	  node_sla: {due: 8h, remind: 1h}   # default for nodes without sla
//	fields:                     # ordered; names are lower_snake_case
//	  amount: {type: money, currency: CNY, scale: 2, min: "0.01", max: "50000", required: true}
//	  reason: {type: text, label: Reason, max_length: 500, pattern: "..."}
//	  qty:    {type: number, integer: true, min: 1}
//	  method: {type: enum, values: [original, {value: bank, label: Bank transfer}]}
//	  owner:  {type: user}
//	  items:  {type: table, min_rows: 1, max_rows: 50, columns: {sku: {type: text}}}
//	nodes:
//	  - key: finance
//	    name: Finance review
//	    when: amount > 1000      # expr condition; see the package documentation
//	    handlers:                # each entry has exactly one key
//	      - role: finance        # also user, group, field (a user or user_list
//	      - submitter: true      # field), submitter: true, chosen: true or
//	                             # chosen: {role: x, group: y, max: 2}
//	    mode: all_of             # one_of (default), all_of, sequential
//	    visible: [amount, items] # default: every field
//	    editable: [amount]       # subset of visible; default none
//	    sla: {due: 8h, remind: 2h}
//	    cc: [{role: auditors}]   # same kinds as handlers but chosen
//	    reject: end              # or the key of an earlier node
//	    empty: fail              # or skip: what to do when nobody handles the node
//
// Parse is deterministic: the same source always yields the same result.
func Parse(src []byte) (*Definition, error) {
	if len(src) > MaxSourceSize {
		return nil, Problems{{Message: fmt.Sprintf("the document is %d bytes, more than the %d allowed", len(src), MaxSourceSize)}}
	}
	root, err := parseYAML(src)
	if err != nil {
		return nil, Problems{{Message: err.Error()}}
	}
	var d decoder
	def := d.definition(root)
	if err := d.err(); err != nil {
		return nil, err
	}
	doc, err := encodeDocument(def)
	if err != nil {
		return nil, fmt.Errorf("encode canonical document: %w", err)
	}
	def.document = doc
	def.digest = digestOf(doc)
	return def, nil
}

func (d *decoder) slug(n *yaml.Node, path string, pattern *regexp.Regexp, what string) string {
	s, ok := d.text(n, path)
	if !ok {
		return ""
	}
	if len(s) > 64 || !pattern.MatchString(s) {
		d.add(path, "%q is not a valid %s", s, what)
		return ""
	}
	return s
}

func (d *decoder) definition(root *yaml.Node) *Definition {
	def := &Definition{}
	es, ok := d.entries(root, "")
	if !ok {
		return def
	}
	var nodes *entry
	seen := map[string]bool{}
	for i, e := range es {
		seen[e.key] = true
		switch e.key {
		case "key":
			def.key = d.slug(e.node, e.path, slugPattern, "process key (lower-case letters, digits and single hyphens)")
		case "name":
			def.name, _ = d.label(e.node, e.path, 200)
		case "description":
			def.description, _ = d.text(e.node, e.path)
		case "system":
			def.system = d.slug(e.node, e.path, slugPattern, "system slug (lower-case letters, digits and single hyphens)")
		case "settings":
			def.settings = d.settings(e.node, e.path)
		case "fields":
			def.fields = d.fields(e.node, e.path, false)
		case "nodes":
			nodes = &es[i]
		case "version":
			d.add(e.path, "is assigned at publication and must not be in the document")
		default:
			d.unknown(e)
		}
	}
	for _, k := range []string{"key", "name", "system", "nodes"} {
		if !seen[k] {
			d.add(k, "is required")
		}
	}
	def.fieldIndex = make(map[string]int, len(def.fields))
	for i, f := range def.fields {
		def.fieldIndex[f.Name] = i
	}
	def.env = newConditionEnv(def.fields)
	if nodes != nil {
		def.nodes = d.nodes(nodes.node, nodes.path, def)
	}
	def.nodeIndex = make(map[string]int, len(def.nodes))
	for i, n := range def.nodes {
		if n.Key != "" {
			def.nodeIndex[n.Key] = i
		}
	}
	return def
}

// fields reads an ordered mapping of field specifications. Fields whose type could be
// read are kept even when they have other problems, so that references to them do not
// add noise.
func (d *decoder) fields(n *yaml.Node, path string, columns bool) []Field {
	es, ok := d.entries(n, path)
	if !ok {
		return nil
	}
	limit := LimitFields
	if columns {
		limit = LimitColumns
	}
	if len(es) > limit {
		d.add(path, "has %d entries, more than the %d allowed", len(es), limit)
		return nil
	}
	out := make([]Field, 0, len(es))
	for _, e := range es {
		if msg := checkFieldName(e.key); msg != "" {
			d.add(e.path, "%s", msg)
			continue
		}
		if f, ok := d.field(e.node, e.path, e.key, columns); ok {
			out = append(out, f)
		}
	}
	return out
}

func checkFieldName(name string) string {
	switch {
	case len(name) > 64 || !fieldNamePattern.MatchString(name):
		return fmt.Sprintf("%q is not a valid field name (lower-case letters, digits and underscores, starting with a letter)", name)
	case reservedNames[name]:
		return fmt.Sprintf("%q is reserved in conditions and cannot name a field", name)
	}
	return ""
}

// fieldKeys lists the keys a field specification may hold beyond type, label,
// description and required, with the types that allow them.
var fieldKeys = map[string][]FieldType{
	"min_length": {TypeText},
	"max_length": {TypeText},
	"pattern":    {TypeText},
	"min":        {TypeNumber, TypeMoney, TypeDate, TypeDateTime},
	"max":        {TypeNumber, TypeMoney, TypeDate, TypeDateTime},
	"integer":    {TypeNumber},
	"currency":   {TypeMoney},
	"scale":      {TypeMoney},
	"values":     {TypeEnum},
	"min_items":  {TypeUserList, TypeAttachmentList},
	"max_items":  {TypeUserList, TypeAttachmentList},
	"min_rows":   {TypeTable},
	"max_rows":   {TypeTable},
	"columns":    {TypeTable},
}

func typeNames() string {
	names := make([]string, len(fieldTypes))
	for i, t := range fieldTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func (d *decoder) field(n *yaml.Node, path, name string, column bool) (Field, bool) {
	f := Field{Name: name}
	es, ok := d.entries(n, path)
	if !ok {
		return f, false
	}
	typed := false
	for _, e := range es {
		if e.key != "type" {
			continue
		}
		s, ok := d.text(e.node, e.path)
		if !ok {
			return f, false
		}
		f.Type = FieldType(s)
		if !f.Type.known() {
			d.add(e.path, "unknown field type %q (want one of %s)", s, typeNames())
			return f, false
		}
		if column && f.Type == TypeTable {
			d.add(e.path, "a table column cannot be a table")
			return f, false
		}
		typed = true
	}
	if !typed {
		d.add(join(path, "type"), "is required")
		return f, false
	}
	var minNode, maxNode *entry
	var columns *entry
	minItems, maxItems := "min_items", "max_items"
	if f.Type == TypeTable {
		minItems, maxItems = "min_rows", "max_rows"
	}
	f.Scale = -1
	for i, e := range es {
		if allowed, ok := fieldKeys[e.key]; ok && !typeIn(f.Type, allowed) {
			d.add(e.path, "is not allowed for a %s field", f.Type)
			continue
		}
		switch e.key {
		case "type":
		case "label":
			f.Label, _ = d.label(e.node, e.path, 200)
		case "description":
			f.Description, _ = d.text(e.node, e.path)
		case "required":
			f.Required, _ = d.boolean(e.node, e.path)
		case "min_length":
			f.MinLength, _ = d.integer(e.node, e.path, 0, LimitMaxLength)
		case "max_length":
			f.MaxLength, _ = d.integer(e.node, e.path, 1, LimitMaxLength)
		case "pattern":
			f.Pattern, f.pattern = d.pattern(e.node, e.path)
		case "min":
			minNode = &es[i]
		case "max":
			maxNode = &es[i]
		case "integer":
			f.Integer, _ = d.boolean(e.node, e.path)
		case "currency":
			if s, ok := d.text(e.node, e.path); ok {
				if currencyPattern.MatchString(s) {
					f.Currency = s
				} else {
					d.add(e.path, "%q is not an ISO 4217 currency code such as CNY", s)
				}
			}
		case "scale":
			f.Scale, _ = d.integer(e.node, e.path, 0, LimitScale)
		case "values":
			f.Options = d.options(e.node, e.path)
		case minItems:
			f.MinItems, _ = d.integer(e.node, e.path, 0, LimitMaxRows)
		case maxItems:
			limit := LimitMaxItems
			if f.Type == TypeTable {
				limit = LimitMaxRows
			}
			f.MaxItems, _ = d.integer(e.node, e.path, 1, limit)
		case "columns":
			columns = &es[i]
		default:
			d.unknown(e)
		}
	}
	if f.Scale < 0 {
		f.Scale = DefaultScale
	}
	if f.Type == TypeText && f.MinLength > f.maxLength() {
		d.add(join(path, "max_length"), "must be ≥ min_length (%d)", f.MinLength)
	}
	if (f.Type.isList() || f.Type == TypeTable) && f.MinItems > f.maxItems() {
		d.add(join(path, maxItems), "must be ≥ %s (%d)", minItems, f.MinItems)
	}
	if f.Type == TypeEnum && f.Options == nil {
		d.add(join(path, "values"), "is required for an enum field")
	}
	if f.Type == TypeTable {
		if columns == nil {
			d.add(join(path, "columns"), "is required for a table field")
		} else {
			mark := d.mark()
			f.Columns = d.fields(columns.node, columns.path, true)
			if len(f.Columns) == 0 && !d.since(mark) {
				d.add(columns.path, "must hold at least one column")
			}
			f.columns = make(map[string]int, len(f.Columns))
			for i, c := range f.Columns {
				f.columns[c.Name] = i
			}
		}
	}
	d.bounds(&f, minNode, maxNode, path)
	return f, true
}

func typeIn(t FieldType, ts []FieldType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func (d *decoder) pattern(n *yaml.Node, path string) (string, *regexp.Regexp) {
	s, ok := d.text(n, path)
	if !ok {
		return "", nil
	}
	if len(s) > LimitPattern {
		d.add(path, "must be at most %d bytes long", LimitPattern)
		return "", nil
	}
	re, err := regexp.Compile(`^(?:` + s + `)$`)
	if err != nil {
		if _, err2 := regexp.Compile(s); err2 != nil {
			err = err2
		}
		d.add(path, "not a valid regular expression: %v", err)
		return "", nil
	}
	return s, re
}

func (d *decoder) options(n *yaml.Node, path string) []Option {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 || len(items) > LimitOptions {
		d.add(path, "must list 1 to %d values", LimitOptions)
		return nil
	}
	seen := map[string]bool{}
	out := make([]Option, 0, len(items))
	for i, it := range items {
		p := index(path, i)
		var o Option
		if it.Kind == yaml.MappingNode {
			es, _ := d.entries(it, p)
			for _, e := range es {
				switch e.key {
				case "value":
					o.Value, _ = d.text(e.node, e.path)
				case "label":
					o.Label, _ = d.label(e.node, e.path, 200)
				default:
					d.unknown(e)
				}
			}
		} else {
			o.Value, _ = d.text(it, p)
		}
		switch {
		case o.Value == "":
			d.add(p, "the value must be a non-empty string")
		case len(o.Value) > 200:
			d.add(p, "the value must be at most 200 bytes long")
		case seen[o.Value]:
			d.add(p, "duplicate value %q", o.Value)
		default:
			seen[o.Value] = true
			out = append(out, o)
		}
	}
	return out
}

// bounds reads min and max now that the type, integer flag and scale are known.
func (d *decoder) bounds(f *Field, minE, maxE *entry, path string) {
	lo, okLo := d.bound(f, minE)
	hi, okHi := d.bound(f, maxE)
	if okLo && okHi && lo.cmp(hi) > 0 {
		d.add(join(path, "max"), "must be ≥ min")
	}
	if okLo {
		f.Min = lo.text
		f.minNum, f.minMoney, f.minTime = lo.num, lo.money, lo.time
	}
	if okHi {
		f.Max = hi.text
		f.maxNum, f.maxMoney, f.maxTime = hi.num, hi.money, hi.time
	}
}

type bound struct {
	text  string
	num   *float64
	money *decimal.Decimal
	time  *time.Time
}

func (b bound) cmp(o bound) int {
	switch {
	case b.num != nil && o.num != nil:
		switch {
		case *b.num < *o.num:
			return -1
		case *b.num > *o.num:
			return 1
		}
		return 0
	case b.money != nil && o.money != nil:
		return b.money.Cmp(*o.money)
	case b.time != nil && o.time != nil:
		return b.time.Compare(*o.time)
	}
	return 0
}

func (d *decoder) bound(f *Field, e *entry) (bound, bool) {
	if e == nil {
		return bound{}, false
	}
	s, ok := d.text(e.node, e.path)
	if !ok {
		return bound{}, false
	}
	switch f.Type {
	case TypeNumber:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || e.node.ShortTag() == tagStr && strings.TrimSpace(s) != s {
			d.add(e.path, "%q is not a number", s)
			return bound{}, false
		}
		if f.Integer && v != math.Trunc(v) {
			d.add(e.path, "must be a whole number for an integer field")
			return bound{}, false
		}
		return bound{text: formatFloat(v), num: &v}, true
	case TypeMoney:
		m, err := ParseMoney(s, f.Scale)
		if err != nil {
			d.add(e.path, "%v", err)
			return bound{}, false
		}
		return bound{text: m.String(), money: &m.amount}, true
	case TypeDate:
		v, err := ParseDate(s)
		if err != nil {
			d.add(e.path, "%v", err)
			return bound{}, false
		}
		t := v.Time()
		return bound{text: v.String(), time: &t}, true
	default:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			d.add(e.path, "%q is not an RFC 3339 date-time", s)
			return bound{}, false
		}
		return bound{text: t.Format(time.RFC3339Nano), time: &t}, true
	}
}
