package process

import (
	"strings"

	"go.yaml.in/yaml/v4"
)

func (d *decoder) nodes(n *yaml.Node, path string, def *Definition) []Node {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	switch {
	case len(items) == 0:
		d.add(path, "must hold at least one node")
		return nil
	case len(items) > LimitNodes:
		d.add(path, "has %d nodes, more than the %d allowed", len(items), LimitNodes)
		return nil
	}
	env := def.env
	out := make([]Node, len(items))
	rejects := make([]string, len(items))
	first := map[string]int{}
	for i, it := range items {
		p := index(path, i)
		out[i], rejects[i] = d.node(it, p, def, env)
		k := out[i].Key
		if k == "" {
			continue
		}
		if j, dup := first[k]; dup {
			d.add(join(p, "key"), "duplicate node key %q (also %s)", k, index(path, j))
			continue
		}
		first[k] = i
	}
	for i := range out {
		target := rejects[i]
		if target == "" || target == RejectEnd {
			continue
		}
		p := join(index(path, i), "reject")
		j, ok := first[target]
		switch {
		case !ok:
			d.add(p, "no node %q (want %q or the key of an earlier node)", target, RejectEnd)
		case j >= i:
			d.add(p, "node %q is not earlier than this node", target)
		default:
			out[i].Reject = target
		}
	}
	return out
}

func (d *decoder) node(n *yaml.Node, path string, def *Definition, env *conditionEnv) (Node, string) {
	nd := Node{Mode: ModeOneOf, Reject: RejectEnd, Empty: EmptyFail}
	es, ok := d.entries(n, path)
	if !ok {
		return nd, ""
	}
	var reject string
	var visible, editable *entry
	seen := map[string]bool{}
	for i, e := range es {
		seen[e.key] = true
		switch e.key {
		case "key":
			nd.Key = d.slug(e.node, e.path, nodeKeyPattern, "node key (lower-case letters, digits, '_' and '-', starting with a letter)")
			if nd.Key == RejectEnd {
				d.add(e.path, "%q is reserved", RejectEnd)
				nd.Key = ""
			}
		case "name":
			nd.Name, _ = d.label(e.node, e.path, 200)
		case "description":
			nd.Description, _ = d.text(e.node, e.path)
		case "handlers":
			mark := d.mark()
			nd.Handlers = d.handlers(e.node, e.path, def, false)
			if len(nd.Handlers) == 0 && !d.since(mark) {
				d.add(e.path, "must hold at least one handler")
			}
		case "mode":
			if s, ok := d.text(e.node, e.path); ok {
				nd.Mode = Mode(s)
				if !nd.Mode.known() {
					d.add(e.path, "unknown mode %q (want %s, %s or %s)", s, ModeOneOf, ModeAllOf, ModeSequential)
				}
			}
		case "when":
			if s, ok := d.text(e.node, e.path); ok {
				nd.When = s
				prog, err := env.compile(s)
				if err != nil {
					d.add(e.path, "%v", err)
				}
				nd.condition = prog
			}
		case "visible":
			visible = &es[i]
		case "editable":
			editable = &es[i]
		case "sla":
			nd.SLA = d.sla(e.node, e.path)
		case "cc":
			nd.CC = d.handlers(e.node, e.path, def, true)
		case "reject":
			reject, _ = d.text(e.node, e.path)
		case "empty":
			if s, ok := d.text(e.node, e.path); ok {
				nd.Empty = EmptyPolicy(s)
				if nd.Empty != EmptyFail && nd.Empty != EmptySkip {
					d.add(e.path, "unknown policy %q (want %s or %s)", s, EmptyFail, EmptySkip)
				}
			}
		default:
			d.unknown(e)
		}
	}
	for _, k := range []string{"key", "name", "handlers"} {
		if !seen[k] {
			d.add(join(path, k), "is required")
		}
	}
	if visible != nil {
		nd.Visible = d.fieldNames(visible.node, visible.path, def, nil)
		nd.visibleGiven = true
	} else {
		nd.Visible = make([]string, len(def.fields))
		for i, f := range def.fields {
			nd.Visible[i] = f.Name
		}
	}
	if editable != nil {
		nd.Editable = d.fieldNames(editable.node, editable.path, def, nd.Visible)
	}
	return nd, reject
}

// fieldNames reads a list of field names, each defined once and, when within is not nil,
// one of within; it returns them in field order.
func (d *decoder) fieldNames(n *yaml.Node, path string, def *Definition, within []string) []string {
	items, ok := d.list(n, path)
	if !ok {
		return []string{}
	}
	allowed := map[string]bool{}
	for _, w := range within {
		allowed[w] = true
	}
	picked := map[string]bool{}
	for i, it := range items {
		p := index(path, i)
		s, ok := d.text(it, p)
		if !ok {
			continue
		}
		_, defined := def.fieldIndex[s]
		switch {
		case !defined:
			d.add(p, "no field %q", s)
		case picked[s]:
			d.add(p, "field %q is listed twice", s)
		case within != nil && !allowed[s]:
			d.add(p, "field %q is not visible at this node", s)
		default:
			picked[s] = true
		}
	}
	out := []string{}
	for _, f := range def.fields {
		if picked[f.Name] {
			out = append(out, f.Name)
		}
	}
	return out
}

func kindNames(cc bool) string {
	var names []string
	for _, k := range handlerKinds {
		if cc && k == HandlerChosen {
			continue
		}
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

func (d *decoder) handlers(n *yaml.Node, path string, def *Definition, cc bool) []Handler {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	if len(items) > LimitHandlers {
		d.add(path, "has %d entries, more than the %d allowed", len(items), LimitHandlers)
		return nil
	}
	out := make([]Handler, 0, len(items))
	chosen := false
	for i, it := range items {
		p := index(path, i)
		es, ok := d.entries(it, p)
		if !ok {
			continue
		}
		if len(es) != 1 {
			d.add(p, "give exactly one of %s", kindNames(cc))
			continue
		}
		h, ok := d.handler(es[0], p, def, cc)
		if !ok {
			continue
		}
		if h.Kind == HandlerChosen {
			if chosen {
				d.add(p, "a node takes at most one chosen handler")
				continue
			}
			chosen = true
		}
		out = append(out, h)
	}
	return out
}

func (d *decoder) handler(e entry, path string, def *Definition, cc bool) (Handler, bool) {
	h := Handler{Kind: HandlerKind(e.key)}
	switch h.Kind {
	case HandlerUser, HandlerRole, HandlerGroup:
		v, ok := d.ident(e.node, e.path)
		h.Value = v
		return h, ok
	case HandlerField:
		name, ok := d.text(e.node, e.path)
		if !ok {
			return h, false
		}
		f, ok := def.Field(name)
		switch {
		case !ok:
			d.add(e.path, "no field %q", name)
			return h, false
		case f.Type != TypeUser && f.Type != TypeUserList:
			d.add(e.path, "field %q has type %s, want %s or %s", name, f.Type, TypeUser, TypeUserList)
			return h, false
		}
		h.Value = name
		return h, true
	case HandlerSubmitter:
		b, ok := d.boolean(e.node, e.path)
		if ok && !b {
			d.add(e.path, "must be true (leave the entry out instead)")
		}
		return h, ok && b
	case HandlerChosen:
		if cc {
			d.add(path, "chosen approvers cannot be CC recipients")
			return h, false
		}
		return d.chosen(e, h)
	default:
		d.add(path, "unknown handler kind %q (want one of %s)", e.key, kindNames(cc))
		return h, false
	}
}

func (d *decoder) chosen(e entry, h Handler) (Handler, bool) {
	h.Max = 1
	if e.node.Kind == yaml.ScalarNode {
		b, ok := d.boolean(e.node, e.path)
		if ok && !b {
			d.add(e.path, "must be true or a mapping {role, group, max}")
		}
		return h, ok && b
	}
	es, ok := d.entries(e.node, e.path)
	if !ok {
		return h, false
	}
	mark := d.mark()
	for _, c := range es {
		switch c.key {
		case "role":
			h.Role, _ = d.ident(c.node, c.path)
		case "group":
			h.Group, _ = d.ident(c.node, c.path)
		case "max":
			h.Max, _ = d.integer(c.node, c.path, 1, LimitChosen)
		default:
			d.unknown(c)
		}
	}
	if h.Role != "" && h.Group != "" {
		d.add(e.path, "give role or group, not both")
	}
	return h, !d.since(mark)
}
