package process

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Directory resolves roles and groups to principals. The caller supplies it, loaded
// beforehand, so routing stays pure: implementations must answer from memory, without I/O,
// and return the same answer for the same question during one Route call. A nil slice
// means nobody.
type Directory interface {
	UsersInRole(role string) []string
	UsersInGroup(group string) []string
}

// UserDirectory is a Directory that also knows who can take work: routing leaves out a
// user, named in the definition or by a field, whom it does not report available (a
// disabled user, a name no user holds).
type UserDirectory interface {
	Directory
	Available(user string) bool
}

// StaticDirectory is a Directory held in maps, from role or group to principals. The zero
// value knows nobody.
type StaticDirectory struct {
	Roles  map[string][]string
	Groups map[string][]string
}

// UsersInRole returns the members of the role.
func (s StaticDirectory) UsersInRole(role string) []string { return s.Roles[role] }

// UsersInGroup returns the members of the group.
func (s StaticDirectory) UsersInGroup(group string) []string { return s.Groups[group] }

// RouteInput is everything routing depends on besides the definition and the directory.
type RouteInput struct {
	// Values are the ticket's normalised field values, as returned by ValidateFields.
	Values Values
	// Submitter is who submits the ticket.
	Submitter Submitter
	// Chosen holds, by node key, the approvers the submitter picked for nodes with a
	// chosen handler. Picks for nodes that do not apply are ignored.
	Chosen map[string][]string
}

// Skip reasons of a NodePlan that does not apply.
const (
	SkipCondition = "condition"
	SkipNoHandler = "no_handler"
)

// NodePlan is what routing decided for one node.
type NodePlan struct {
	Key   string
	Index int
	// Applies reports whether the ticket passes through the node; when it does not,
	// Skipped says why (SkipCondition or SkipNoHandler) and Handlers and CC are empty.
	Applies bool
	Skipped string
	Mode    Mode
	// Handlers are the principals who handle the node, without duplicates, in the order
	// of the node's handler sources (and within a role or group, the Directory's order):
	// the order ModeSequential follows.
	Handlers []string
	// CC are the principals notified when the node is reached, without duplicates and
	// without the node's handlers.
	CC []string
	// Due and Remind are the node's effective SLA: its own, else the process's node_sla;
	// zero means none.
	Due    time.Duration
	Remind time.Duration
	// Reject is where a rejection at the node goes: RejectEnd or an earlier node's key.
	// When the ticket skips the node the definition names, it is the first node the ticket
	// passes through from there on (as a new pass from the named node would begin), else
	// the nearest one before it, else RejectEnd.
	Reject string
}

// Plan is the routing of a ticket: one NodePlan per node of the definition, in order.
type Plan []NodePlan

// Applying returns the plans of the nodes the ticket passes through, in order.
func (p Plan) Applying() []NodePlan {
	var out []NodePlan
	for _, n := range p {
		if n.Applies {
			out = append(out, n)
		}
	}
	return out
}

// Route decides, for every node in order, whether it applies to the ticket (its condition
// holds) and who handles it, resolving roles and groups through dir (nil means an empty
// directory). It is pure and deterministic, safe for concurrent use, and may be called
// again after values change (a node's condition is evaluated on the values given).
//
// It returns a Problems error naming every issue: a condition that fails at run time
// ("nodes[1].when"), picks missing or invalid for a chosen handler ("chosen.<node>"), a
// pick for a node without a chosen handler, and an applicable node whose handlers
// resolve to nobody unless the node's empty policy is skip ("nodes[1].handlers").
func (d *Definition) Route(in RouteInput, dir Directory) (Plan, error) {
	if dir == nil {
		dir = StaticDirectory{}
	}
	var r report
	for _, k := range sortedKeys(in.Chosen) {
		i, ok := d.nodeIndex[k]
		if !ok {
			r.add(join("chosen", k), "no node %q", k)
			continue
		}
		if !slices.ContainsFunc(d.nodes[i].Handlers, func(h Handler) bool { return h.Kind == HandlerChosen }) {
			r.add(join("chosen", k), "node %q has no chosen handler", k)
		}
	}
	plan := make(Plan, len(d.nodes))
	for i := range d.nodes {
		plan[i] = d.planNode(i, in, dir, &r)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	for i := range plan {
		plan[i].Reject = plan.rejectTarget(i)
	}
	return plan, nil
}

// rejectTarget is where a rejection at node i goes on this plan (see NodePlan.Reject).
func (p Plan) rejectTarget(i int) string {
	key := p[i].Reject
	if key == RejectEnd || key == "" {
		return key
	}
	target := slices.IndexFunc(p, func(n NodePlan) bool { return n.Key == key })
	if target < 0 || target >= i || p[target].Applies {
		return key
	}
	for j := target + 1; j < i; j++ {
		if p[j].Applies {
			return p[j].Key
		}
	}
	for j := target - 1; j >= 0; j-- {
		if p[j].Applies {
			return p[j].Key
		}
	}
	return RejectEnd
}

// RouteNode is Route for the node with the given key alone, as when a ticket returns to
// it after a rejection. Its Reject is the definition's as written: only Route, which sees
// every node, redirects it from a node the ticket skips. An unknown node is a problem at
// path "node".
func (d *Definition) RouteNode(nodeKey string, in RouteInput, dir Directory) (NodePlan, error) {
	i, ok := d.nodeIndex[nodeKey]
	if !ok {
		return NodePlan{}, Problems{{Path: "node", Message: fmt.Sprintf("no node %q", nodeKey)}}
	}
	if dir == nil {
		dir = StaticDirectory{}
	}
	var r report
	p := d.planNode(i, in, dir, &r)
	if err := r.err(); err != nil {
		return NodePlan{}, err
	}
	return p, nil
}

func (d *Definition) planNode(i int, in RouteInput, dir Directory, r *report) NodePlan {
	n := &d.nodes[i]
	path := index("nodes", i)
	sla := n.SLA
	if sla.IsZero() {
		sla = d.settings.NodeSLA
	}
	p := NodePlan{Key: n.Key, Index: i, Mode: n.Mode, Due: sla.Due, Remind: sla.Remind, Reject: n.Reject}
	if n.condition != nil {
		ok, err := d.env.eval(n.condition, in.Values, in.Submitter)
		if err != nil {
			r.add(join(path, "when"), "%v", err)
			return p
		}
		if !ok {
			p.Skipped = SkipCondition
			return p
		}
	}
	mark := r.mark()
	handlers := d.resolve(n.Handlers, n.Key, in, dir, r, true)
	if r.since(mark) {
		return p
	}
	if len(handlers) == 0 {
		if n.Empty == EmptySkip {
			p.Skipped = SkipNoHandler
			return p
		}
		// Handlers taken from a field resolve to nobody when the input left it empty: the
		// input's fault. Roles and groups resolve to nobody when the directory holds no
		// enabled member: the organisation's.
		fromInput := slices.ContainsFunc(n.Handlers, func(h Handler) bool { return h.Kind == HandlerField })
		r.addProblem(Problem{Path: join(path, "handlers"), Unroutable: !fromInput,
			Message: fmt.Sprintf(ResolvesToNobody+"node %s (%s) has no enabled user among %s", n.Key, n.Name, describeHandlers(n.Handlers))})
		return p
	}
	p.Applies = true
	p.Handlers = handlers
	for _, u := range d.resolve(n.CC, n.Key, in, dir, r, false) {
		if !slices.Contains(handlers, u) {
			p.CC = append(p.CC, u)
		}
	}
	return p
}

// resolve turns handler sources into principals, without duplicates, in source order.
// Users a field names who are not available are problems of the input for handlers and
// are left out of CC.
func (d *Definition) resolve(sources []Handler, nodeKey string, in RouteInput, dir Directory, r *report, forHandlers bool) []string {
	var out []string
	seen := map[string]bool{}
	add := func(users ...string) {
		for _, u := range users {
			if u != "" && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	ud, knowsUsers := dir.(UserDirectory)
	available := func(u string) bool { return !knowsUsers || ud.Available(u) }
	for _, h := range sources {
		switch h.Kind {
		case HandlerUser:
			if available(h.Value) {
				add(h.Value)
			}
		case HandlerRole:
			add(dir.UsersInRole(h.Value)...)
		case HandlerGroup:
			add(dir.UsersInGroup(h.Value)...)
		case HandlerSubmitter:
			add(in.Submitter.ID)
		case HandlerField:
			path := join("fields", h.Value)
			take := func(u, at string) {
				switch {
				case available(u):
					add(u)
				case forHandlers:
					r.add(at, "%s cannot take work here: no enabled user has that id", u)
				}
			}
			switch v := in.Values[h.Value].(type) {
			case string:
				take(v, path)
			case []string:
				for i, u := range v {
					take(u, index(path, i))
				}
			}
		case HandlerChosen:
			add(chosen(h, nodeKey, in.Chosen[nodeKey], dir, r)...)
		}
	}
	return out
}

func chosen(h Handler, nodeKey string, picks []string, dir Directory, r *report) []string {
	path := join("chosen", nodeKey)
	switch {
	case len(picks) == 0:
		r.add(path, "the submitter must pick an approver for this node")
		return nil
	case len(picks) > h.Max:
		r.add(path, "at most %d approvers may be picked, got %d", h.Max, len(picks))
		return nil
	}
	var candidates []string
	var among string
	switch {
	case h.Role != "":
		candidates, among = dir.UsersInRole(h.Role), "role "+h.Role
	case h.Group != "":
		candidates, among = dir.UsersInGroup(h.Group), "group "+h.Group
	}
	mark := r.mark()
	for i, u := range picks {
		if msg := checkIdent(u); msg != "" {
			r.add(index(path, i), "user id %s", msg)
			continue
		}
		if among != "" && !slices.Contains(candidates, u) {
			r.add(index(path, i), "%q is not a member of %s", u, among)
		} else if ud, ok := dir.(UserDirectory); ok && !ud.Available(u) {
			r.add(index(path, i), "%s cannot take work here: no enabled user has that id", u)
		}
	}
	if r.since(mark) {
		return nil
	}
	return picks
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describeHandlers names a node's handler sources for people: "role finance, user chen".
func describeHandlers(hs []Handler) string {
	parts := make([]string, 0, len(hs))
	for _, h := range hs {
		switch h.Kind {
		case HandlerSubmitter:
			parts = append(parts, "the submitter")
		case HandlerChosen:
			parts = append(parts, "the submitter's picks")
		default:
			parts = append(parts, string(h.Kind)+" "+h.Value)
		}
	}
	return strings.Join(parts, ", ")
}
