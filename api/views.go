package api

import (
	"time"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
)

// ticketResult is what a ticket command answers: where the ticket stands, never its
// fields (the caller may not see them all).
type ticketResult struct {
	TicketID       string              `json:"ticket_id"`
	Status         ticket.Status       `json:"status"`
	Process        string              `json:"process,omitempty"`
	ProcessVersion int                 `json:"process_version,omitempty"`
	Version        uint64              `json:"version"`
	Position       eventstore.Position `json:"position"`
	Appended       int                 `json:"appended"`
	CurrentNode    string              `json:"current_node,omitempty"`
	Pending        []string            `json:"pending,omitempty"`
	Route          []routeNode         `json:"route,omitempty"`
}

type routeNode struct {
	Key      string      `json:"key"`
	Name     string      `json:"name,omitempty"`
	Mode     ticket.Mode `json:"mode"`
	Handlers []string    `json:"handlers"`
}

func ticketResultOf(res commands.TicketResult) ticketResult {
	st := res.State
	out := ticketResult{TicketID: st.ID, Status: st.Status, Process: st.ProcessKey, ProcessVersion: st.ProcessVersion,
		Version: res.Version, Position: res.Position, Appended: res.Appended, Pending: st.PendingHandlers()}
	if n, ok := st.CurrentNode(); ok {
		out.CurrentNode = n.Key
	}
	for _, n := range st.Route {
		out.Route = append(out.Route, routeNode{Key: n.Key, Name: n.Name, Mode: n.Mode, Handlers: n.Handlers})
	}
	return out
}

// principalView is a principal without its token hashes.
type principalView struct {
	ID         string               `json:"id"`
	Kind       principal.Kind       `json:"kind"`
	Name       string               `json:"name,omitempty"`
	System     string               `json:"system,omitempty"`
	Department string               `json:"department,omitempty"`
	Attributes map[string]string    `json:"attributes,omitempty"`
	Roles      []string             `json:"roles"`
	Groups     []string             `json:"groups"`
	Disabled   bool                 `json:"disabled"`
	Tokens     []tokenView          `json:"tokens"`
	CreatedAt  time.Time            `json:"created_at"`
	Version    uint64               `json:"version,omitempty"`
	Position   *eventstore.Position `json:"position,omitempty"`
}

type tokenView struct {
	ID        string    `json:"id"`
	Label     string    `json:"label,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	IssuedBy  string    `json:"issued_by"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func principalViewOf(st principal.State) principalView {
	v := principalView{ID: st.ID, Kind: st.Kind, Name: st.Name, System: st.System, Department: st.Department,
		Attributes: st.Attributes, Roles: nonNil(st.Roles), Groups: nonNil(st.Groups), Disabled: st.Disabled,
		Tokens: []tokenView{}, CreatedAt: st.CreatedAt}
	for _, t := range st.Tokens {
		v.Tokens = append(v.Tokens, tokenView{ID: t.ID, Label: t.Label, IssuedAt: t.IssuedAt, IssuedBy: t.IssuedBy, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt})
	}
	return v
}

func principalResultOf(res commands.PrincipalResult) principalView {
	v := principalViewOf(res.State)
	v.Version, v.Position = res.Version, &res.Position
	return v
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
