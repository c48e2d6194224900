package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// Directory is what routing needs to know of principals: the members of roles and groups,
// and a submitter's department, roles, groups and attributes. Implementations answer from
// memory (a snapshot), so that routing stays pure.
type Directory interface {
	process.Directory
	// Submitter returns what conditions and handler resolution see of principal id; an
	// unknown principal is returned with its id alone.
	Submitter(id string) process.Submitter
}

// StaticDirectory is a Directory held in maps. The zero value knows nobody.
type StaticDirectory struct {
	Roles      map[string][]string
	Groups     map[string][]string
	Submitters map[string]process.Submitter
	// Users are the enabled users, who can take work; nil means every name can.
	Users map[string]bool
}

// Available reports whether user can take work: an enabled user (process.UserDirectory).
func (d StaticDirectory) Available(user string) bool { return d.Users == nil || d.Users[user] }

// UsersInRole returns the members of role.
func (d StaticDirectory) UsersInRole(role string) []string { return d.Roles[role] }

// UsersInGroup returns the members of group.
func (d StaticDirectory) UsersInGroup(group string) []string { return d.Groups[group] }

// Submitter returns the directory's record of id.
func (d StaticDirectory) Submitter(id string) process.Submitter {
	s, ok := d.Submitters[id]
	if !ok {
		return process.Submitter{ID: id}
	}
	s.ID = id
	return s
}

// DirectorySource returns a directory snapshot for one command.
type DirectorySource func(ctx context.Context) (Directory, error)

// processAggregate folds a process stream; process streams carry the hash chain.
var processAggregate = Aggregate[process.State, process.Event]{
	Codec:   Codec[process.Event]{Encode: process.EncodeEvent, Decode: process.DecodeEvent, Schema: process.EventSchema},
	Initial: func() process.State { return process.State{} },
	Evolve:  process.Evolve,
	Chained: true,
}

// ProcessDefinitions reads published process versions from their streams and binds them
// to a directory: it implements Definitions. Parsed versions are cached (a published
// version never changes). It is safe for concurrent use.
type ProcessDefinitions struct {
	store     eventstore.Store
	directory DirectorySource
	// fresh, when set, says which version of a process stream the log has reached, as far
	// as a follower of the log knows; see Following.
	fresh  func(key string) (uint64, bool)
	mu     sync.Mutex
	parsed map[string]*process.Definition // by digest
	states map[string]Loaded[process.State]
}

// Following has p keep each process stream's state in memory and read the stream again
// only when version, a follower of the log such as PrincipalIndex.ProcessStreamVersion,
// reports a newer version than the one kept (or knows nothing of the process). A
// submission then costs no read of its process's stream; the price is that a version
// published or a process retired through another process of ticketd is seen here only once
// the follower has it, a few milliseconds later. Writers that need their own publication
// seen at once wait for the follower to reach its position. It returns p.
func (p *ProcessDefinitions) Following(version func(key string) (uint64, bool)) *ProcessDefinitions {
	p.fresh = version
	return p
}

// NewProcessDefinitions returns definitions read from store, resolving handlers through
// the snapshots dir returns (nil: an empty directory).
func NewProcessDefinitions(store eventstore.Store, dir DirectorySource) *ProcessDefinitions {
	if dir == nil {
		dir = func(context.Context) (Directory, error) { return StaticDirectory{}, nil }
	}
	return &ProcessDefinitions{store: store, directory: dir, parsed: make(map[string]*process.Definition),
		states: make(map[string]Loaded[process.State])}
}

// Process returns the process stream's state: every published version.
func (p *ProcessDefinitions) Process(ctx context.Context, key string) (process.State, error) {
	if p.fresh == nil {
		l, err := Load(ctx, p.store, processAggregate, process.StreamName(key))
		return l.State, err
	}
	if v, ok := p.fresh(key); ok {
		p.mu.Lock()
		l, kept := p.states[key]
		p.mu.Unlock()
		if kept && l.Version >= v {
			return l.State, nil
		}
	}
	l, err := Load(ctx, p.store, processAggregate, process.StreamName(key))
	if err != nil || l.Version == 0 {
		return l.State, err
	}
	p.mu.Lock()
	if l.Version > p.states[key].Version {
		p.states[key] = l
	}
	p.mu.Unlock()
	return l.State, nil
}

// Latest returns the newest published version of the process. Errors: NotFound when the
// process was never published, Conflict when it is retired.
func (p *ProcessDefinitions) Latest(ctx context.Context, key string) (ticket.Definition, error) {
	st, err := p.Process(ctx, key)
	if err != nil {
		return nil, err
	}
	if st.Retired {
		return nil, domain.Errorf(domain.Conflict, "process-retired", "process %s is retired and takes no new tickets", key)
	}
	return p.bind(ctx, st, key, st.Version)
}

// Version returns one published version of the process. Errors: NotFound.
func (p *ProcessDefinitions) Version(ctx context.Context, key string, version int) (ticket.Definition, error) {
	st, err := p.Process(ctx, key)
	if err != nil {
		return nil, err
	}
	return p.bind(ctx, st, key, version)
}

func (p *ProcessDefinitions) bind(ctx context.Context, st process.State, key string, version int) (ticket.Definition, error) {
	pub, ok := st.Published(version)
	if !ok {
		if st.Version == 0 {
			return nil, domain.Errorf(domain.NotFound, "no-such-process", "process %q is not published", key)
		}
		return nil, domain.Errorf(domain.NotFound, "no-such-version", "process %q has no version %d", key, version)
	}
	def, err := p.parse(pub)
	if err != nil {
		return nil, err
	}
	dir, err := p.directory(ctx)
	if err != nil {
		return nil, fmt.Errorf("commands: directory: %w", err)
	}
	return Bind(def, version, dir), nil
}

func (p *ProcessDefinitions) parse(pub process.Published) (*process.Definition, error) {
	p.mu.Lock()
	def, ok := p.parsed[pub.Digest]
	p.mu.Unlock()
	if ok {
		return def, nil
	}
	def, err := pub.Definition()
	if err != nil {
		return nil, fmt.Errorf("commands: process %s version %d does not parse: %w", pub.Key, pub.Version, err)
	}
	p.mu.Lock()
	p.parsed[pub.Digest] = def
	p.mu.Unlock()
	return def, nil
}

// Bind returns the ticket decider's view of a published process version, resolving
// handlers and submitters through dir.
func Bind(def *process.Definition, version int, dir Directory) ticket.Definition {
	return bound{def: def, version: version, dir: dir}
}

type bound struct {
	def     *process.Definition
	version int
	dir     Directory
}

func (b bound) Key() string    { return b.def.Key() }
func (b bound) Version() int   { return b.version }
func (b bound) System() string { return b.def.System() }

func (b bound) UrgeInterval() time.Duration { return b.def.Settings().UrgeInterval }

func (b bound) TicketSLA() (due, remind time.Duration) {
	sla := b.def.Settings().SLA
	return sla.Due, sla.Remind
}

func (b bound) ValidateFields(raw json.RawMessage) (ticket.Fields, error) {
	input, err := process.DecodeJSON(raw)
	if err != nil {
		return nil, err
	}
	values, err := b.def.ValidateFields(input)
	if err != nil {
		return nil, err
	}
	return encodeValues(values)
}

// encodeValues turns normalised values into the ticket's JSON fields.
func encodeValues(values process.Values) (ticket.Fields, error) {
	out := make(ticket.Fields, len(values))
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("commands: encode field %s: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// values turns a ticket's fields back into typed values for routing.
func (b bound) values(f ticket.Fields) (process.Values, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(f); err != nil {
		return nil, err
	}
	input, err := process.DecodeJSON(bytes.TrimSpace(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	return b.def.ValidateFields(input)
}

func (b bound) Route(f ticket.Fields, s ticket.Submitter) ([]ticket.Node, error) {
	values, err := b.values(f)
	if err != nil {
		return nil, err
	}
	sub := b.dir.Submitter(s.ID)
	plan, err := b.def.Route(process.RouteInput{Values: values, Submitter: sub, Chosen: s.Picked}, b.dir)
	if process.Unroutable(err) {
		return nil, unroutable(b, err)
	}
	if err != nil {
		return nil, err
	}
	var route []ticket.Node
	for _, p := range plan.Applying() {
		n, _, _ := b.def.Node(p.Key)
		reject := p.Reject
		if reject == process.RejectEnd {
			reject = ""
		}
		route = append(route, ticket.Node{
			Key: p.Key, Name: n.Name, Mode: ticket.Mode(p.Mode), Handlers: p.Handlers,
			Visible: b.def.VisibleFields(p.Key), Editable: b.def.EditableFields(p.Key),
			DueAfter: p.Due, RemindBefore: p.Remind, RejectTo: reject, CC: p.CC,
		})
	}
	return route, nil
}

// unroutable is the error of a valid ticket that no one could handle: a node's roles or
// groups hold no enabled user. It is a conflict with the directory as it stands, not a
// fault of the ticket: the same submission succeeds once an admin gives the node an
// enabled handler.
func unroutable(def bound, err error) error {
	ps := process.AsProblems(err)
	nodes := make([]string, len(ps))
	for i, p := range ps {
		nodes[i] = strings.TrimPrefix(p.Message, process.ResolvesToNobody)
	}
	return &domain.Error{Kind: domain.Conflict, Code: "no-handlers", Cause: err,
		Message: fmt.Sprintf("process %s version %d cannot route this ticket: %s; an admin must give an enabled user the role or group the node names",
			def.Key(), def.Version(), strings.Join(nodes, "; "))}
}
