package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/eventstore"
)

// PrincipalIndex is an in-memory view of every principal, kept by folding the principal
// streams of the global log with principal.Evolve, and of the published processes (their
// keys, newest versions and retirement), kept from the process streams. It answers the questions asked on every
// request — which principal a token belongs to, who holds a role or belongs to a group,
// what routing conditions see of a submitter — from memory, without I/O.
//
// It is an index rather than a PostgreSQL read model because principals are few (people
// and systems, not tickets), every request needs them, and routing must stay pure: each
// process of ticketd folds the same streams and reaches the same state, on either event
// store. Its cost is one filtered subscription and memory proportional to the number of
// principals and tokens.
//
// Run follows the log; until it has caught up once, lookups wait (Ready). WaitFor gives
// read-your-writes after a principal command. PrincipalIndex is safe for concurrent use.
type PrincipalIndex struct {
	store  eventstore.Store
	logger *slog.Logger

	mu         sync.RWMutex
	principals map[string]principal.State
	byHash     map[string]string // token hash → principal id
	pos        eventstore.Position
	caughtUp   bool
	progress   chan struct{} // closed and replaced whenever pos or caughtUp moves
	dir        *StaticDirectory
	processes  map[string]ProcessSummary
	// streams holds each process stream's version as folded.
	streams map[string]uint64
}

// ProcessSummary is what the index knows of a published process.
type ProcessSummary struct {
	Key         string    `json:"key"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	System      string    `json:"system,omitempty"`
	Version     int       `json:"version"`
	Retired     bool      `json:"retired"`
	PublishedAt time.Time `json:"published_at"`
}

// NewPrincipalIndex returns an empty index over store; Run fills it. A nil logger
// discards.
func NewPrincipalIndex(store eventstore.Store, logger *slog.Logger) *PrincipalIndex {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PrincipalIndex{store: store, logger: logger, principals: make(map[string]principal.State),
		byHash: make(map[string]string), progress: make(chan struct{}), processes: make(map[string]ProcessSummary), streams: make(map[string]uint64)}
}

// Run follows the principal and process streams from the start of the log until ctx ends, then
// returns ctx's error. A lost subscription is opened again from the last position seen,
// with backoff; an event that does not decode is logged and skipped.
func (x *PrincipalIndex) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := x.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x.logger.Warn("principal index: subscription ended; resubscribing", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (x *PrincipalIndex) follow(ctx context.Context) error {
	x.mu.RLock()
	from := x.pos
	x.mu.RUnlock()
	sub, err := x.store.Subscribe(ctx, from, eventstore.Filter{StreamPrefixes: []string{principal.StreamPrefix, process.StreamPrefix}})
	if err != nil {
		return err
	}
	defer sub.Close()
	for m := range sub.Messages() {
		switch m.Kind {
		case eventstore.EventMessage:
			x.apply(*m.Event)
		case eventstore.CheckpointMessage, eventstore.CaughtUpMessage:
			x.advance(m.Position, m.Kind == eventstore.CaughtUpMessage)
		}
	}
	if err := sub.Err(); err != nil {
		return err
	}
	return errors.New("commands: principal subscription closed")
}

func (x *PrincipalIndex) apply(re eventstore.RecordedEvent) {
	if strings.HasPrefix(re.Stream, process.StreamPrefix) {
		x.applyProcess(re)
		return
	}
	id := strings.TrimPrefix(re.Stream, principal.StreamPrefix)
	e, err := principal.Decode(re.Type, re.Data)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !re.Position.After(x.pos) {
		return
	}
	if err != nil {
		x.logger.Error("principal index: skipping an event", "stream", re.Stream, "version", re.Version, "error", err)
	} else {
		st := principal.Evolve(x.principals[id], e)
		x.principals[id] = st
		for _, t := range st.Tokens {
			x.byHash[t.Hash] = id
		}
		x.dir = nil
	}
	x.moveLocked(re.Position, false)
}

func (x *PrincipalIndex) applyProcess(re eventstore.RecordedEvent) {
	e, err := process.DecodeEvent(re.Type, re.Data)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !re.Position.After(x.pos) {
		return
	}
	if err == nil {
		x.streams[strings.TrimPrefix(re.Stream, process.StreamPrefix)] = re.Version
	}
	switch e := e.(type) {
	case process.Published:
		var doc struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			System      string `json:"system"`
		}
		_ = json.Unmarshal(e.Document, &doc)
		x.processes[e.Key] = ProcessSummary{Key: e.Key, Name: doc.Name, Description: doc.Description, System: doc.System,
			Version: e.Version, PublishedAt: e.PublishedAt}
	case process.Retired:
		p := x.processes[e.Key]
		p.Retired = true
		x.processes[e.Key] = p
	default:
		x.logger.Error("principal index: skipping an event", "stream", re.Stream, "version", re.Version, "error", err)
	}
	x.moveLocked(re.Position, false)
}

// Processes returns every published process, sorted by key.
func (x *PrincipalIndex) Processes() []ProcessSummary {
	x.mu.RLock()
	out := make([]ProcessSummary, 0, len(x.processes))
	for _, p := range x.processes {
		out = append(out, p)
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b ProcessSummary) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// ProcessStreamVersion returns the version of the process stream of key as the index has
// folded it; ok is false until the index has caught up with the log once, and for a
// process it has not seen. ProcessDefinitions uses it to tell whether a process state it
// keeps is still the newest.
func (x *PrincipalIndex) ProcessStreamVersion(key string) (version uint64, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.caughtUp {
		return 0, false
	}
	version, ok = x.streams[key]
	return version, ok
}

func (x *PrincipalIndex) advance(p eventstore.Position, caughtUp bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.moveLocked(p, caughtUp)
}

func (x *PrincipalIndex) moveLocked(p eventstore.Position, caughtUp bool) {
	moved := false
	if p.After(x.pos) {
		x.pos, moved = p, true
	}
	if caughtUp && !x.caughtUp {
		x.caughtUp, moved = true, true
	}
	if moved {
		close(x.progress)
		x.progress = make(chan struct{})
	}
}

// Ready waits until the index has caught up with the log once. Errors: ctx's error.
func (x *PrincipalIndex) Ready(ctx context.Context) error {
	return x.wait(ctx, func() bool { return x.caughtUp })
}

// WaitFor waits until the index has folded every principal event up to pos, such as the
// Position of a principal command's result. Errors: ctx's error.
func (x *PrincipalIndex) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return x.wait(ctx, func() bool { return x.caughtUp && !x.pos.Before(pos) })
}

func (x *PrincipalIndex) wait(ctx context.Context, done func() bool) error {
	for {
		x.mu.RLock()
		ok, ch := done(), x.progress
		x.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("commands: principal index: %w", ctx.Err())
		case <-ch:
		}
	}
}

// CaughtUp reports whether the index has caught up with the log once.
func (x *PrincipalIndex) CaughtUp() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.caughtUp
}

// Position returns the log position the index has folded up to.
func (x *PrincipalIndex) Position() eventstore.Position {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.pos
}

// Authenticate returns the caller a bearer token secret stands for at instant at: the
// principal's id, system and roles. It waits for the index to catch up (bounded by ctx).
// Errors: Unauthenticated "invalid-token" for an unknown or revoked token,
// "token-expired", "principal-disabled"; Unavailable when the index is not ready in time.
func (x *PrincipalIndex) Authenticate(ctx context.Context, secret string, at time.Time) (Caller, error) {
	if err := x.Ready(ctx); err != nil {
		return Caller{}, &domain.Error{Kind: domain.Unavailable, Code: "directory-not-ready", Message: "the principal directory is still loading; try again", Cause: err}
	}
	hash := principal.HashToken(secret)
	x.mu.RLock()
	st, ok := x.principals[x.byHash[hash]]
	x.mu.RUnlock()
	if !ok {
		return Caller{}, domain.Errorf(domain.Unauthenticated, "invalid-token", "the bearer token is not valid")
	}
	var tok principal.Token
	for _, t := range st.Tokens {
		if t.Hash == hash {
			tok = t
		}
	}
	switch {
	case !tok.RevokedAt.IsZero() && !at.Before(tok.RevokedAt):
		return Caller{}, domain.Errorf(domain.Unauthenticated, "invalid-token", "the bearer token is not valid")
	case !tok.ValidAt(at):
		return Caller{}, domain.Errorf(domain.Unauthenticated, "token-expired", "the bearer token has expired")
	case st.Disabled:
		return Caller{}, domain.Errorf(domain.Unauthenticated, "principal-disabled", "principal %s is disabled", st.ID)
	}
	return Caller{ID: st.ID, System: st.System, Roles: slices.Clone(st.Roles)}, nil
}

// Get returns the principal with the given id as the index holds it.
func (x *PrincipalIndex) Get(id string) (principal.State, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st, ok := x.principals[id]
	return st, ok
}

// List returns every principal, sorted by id.
func (x *PrincipalIndex) List() []principal.State {
	x.mu.RLock()
	out := make([]principal.State, 0, len(x.principals))
	for _, st := range x.principals {
		out = append(out, st)
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b principal.State) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Directory returns a snapshot for routing: the enabled principals of each role and
// group, sorted by id, and each principal's department, roles, groups and attributes.
// It waits for the index to catch up (bounded by ctx); it is a DirectorySource.
func (x *PrincipalIndex) Directory(ctx context.Context) (Directory, error) {
	if err := x.Ready(ctx); err != nil {
		return nil, &domain.Error{Kind: domain.Unavailable, Code: "directory-not-ready", Message: "the principal directory is still loading; try again", Cause: err}
	}
	x.mu.RLock()
	dir := x.dir
	x.mu.RUnlock()
	if dir != nil {
		return *dir, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dir == nil {
		x.dir = x.buildLocked()
	}
	return *x.dir, nil
}

func (x *PrincipalIndex) buildLocked() *StaticDirectory {
	d := &StaticDirectory{Roles: map[string][]string{}, Groups: map[string][]string{}, Submitters: map[string]process.Submitter{},
		Users: map[string]bool{}}
	ids := make([]string, 0, len(x.principals))
	for id := range x.principals {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := x.principals[id]
		if !st.Exists() || st.Disabled {
			continue
		}
		if st.Kind == principal.User {
			d.Users[id] = true
		}
		for _, r := range st.Roles {
			d.Roles[r] = append(d.Roles[r], id)
		}
		for _, g := range st.Groups {
			d.Groups[g] = append(d.Groups[g], id)
		}
		attrs := make(map[string]any, len(st.Attributes))
		for k, v := range st.Attributes {
			attrs[k] = v
		}
		d.Submitters[id] = process.Submitter{ID: id, Department: st.Department, Roles: st.Roles, Groups: st.Groups, Attributes: attrs}
	}
	return d
}
