package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
)

func (s *Server) readRoutes() error {
	routes := []struct {
		method, pattern string
		acc             access
		h               handlerFunc
	}{
		{"GET", "/v1/tickets/{ticket_id}", anyone, s.getTicket},
		{"GET", "/v1/tickets/{ticket_id}/timeline", anyone, s.timeline},
		{"GET", "/v1/tickets/{ticket_id}/history", auditors, s.history},
		{"GET", "/v1/principals/{principal_id}/history", auditors, s.principalHistory},
		{"POST", "/v1/principals/{principal_id}/handover", admins, s.handover},
		{"GET", "/v1/tickets/{ticket_id}/state", auditors, s.stateAt},
		{"GET", "/v1/workbench", anyone, s.workbenchCounts},
		{"GET", "/v1/workbench/{list}", anyone, s.workbench},
		{"GET", "/v1/statistics/{by}", auditors, s.statistics},
		{"GET", "/v1/projections", principals, s.projectionStatus},
	}
	for _, rt := range routes {
		if err := s.handle(rt.method, rt.pattern, rt.acc, rt.h); err != nil {
			return err
		}
	}
	return nil
}

func viewerOf(c commands.Caller) projections.Viewer {
	return projections.Viewer{ID: c.ID, System: c.System, Privileged: c.Has(commands.RoleAdmin) || c.Has(commands.RoleAuditor)}
}

type handlerView struct {
	TaskID    string   `json:"task_id"`
	Node      string   `json:"node"`
	Principal string   `json:"principal"`
	Delegates []string `json:"delegates,omitempty"`
}

type ticketView struct {
	ID             string              `json:"id"`
	Status         ticket.Status       `json:"status"`
	Process        string              `json:"process"`
	ProcessVersion int                 `json:"process_version"`
	System         string              `json:"system,omitempty"`
	BusinessKey    string              `json:"business_key,omitempty"`
	Submitter      string              `json:"submitter"`
	Title          string              `json:"title,omitempty"`
	Fields         ticket.Fields       `json:"fields"`
	Shown          []string            `json:"shown,omitempty"`
	Access         projections.Access  `json:"access"`
	CurrentNode    string              `json:"current_node,omitempty"`
	Handlers       []handlerView       `json:"handlers"`
	Watchers       []string            `json:"watchers,omitempty"`
	CC             []string            `json:"cc,omitempty"`
	DueAt          time.Time           `json:"due_at,omitzero"`
	TicketDueAt    time.Time           `json:"ticket_due_at,omitzero"`
	Urges          int                 `json:"urges"`
	FinalAt        time.Time           `json:"final_at,omitzero"`
	Execution      *ticket.Execution   `json:"execution,omitempty"`
	SubmittedAt    time.Time           `json:"submitted_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	Version        uint64              `json:"version"`
	Position       eventstore.Position `json:"position"`
}

// getTicket serves the ticket as the caller may see it: every field for the owning
// system, the submitter, admins and auditors; a handler's (or their delegate's) node's
// fields; none for those copied in. The filtering is the read model's.
func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) error {
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	st, err := s.cfg.ReadSide.Tickets.AsSeenBy(r.Context(), chi.URLParam(r, "ticket_id"), viewerOf(callerOf(r.Context())))
	if err != nil {
		return err
	}
	v := ticketView{ID: st.ID, Status: st.Status, Process: st.ProcessKey, ProcessVersion: st.ProcessVersion, System: st.System,
		BusinessKey: st.BusinessKey, Submitter: st.Submitter, Title: st.Title, Fields: st.Fields, Shown: st.Shown, Access: st.Access,
		CurrentNode: st.CurrentNode, Handlers: []handlerView{}, Watchers: st.Watchers, CC: st.CC, DueAt: st.DueAt, Urges: st.Urges,
		TicketDueAt: st.TicketDueAt, FinalAt: st.FinalAt, Execution: st.Execution, SubmittedAt: st.SubmittedAt, UpdatedAt: st.UpdatedAt, Version: st.Version, Position: st.Position}
	for _, h := range st.Handlers {
		v.Handlers = append(v.Handlers, handlerView{TaskID: h.TaskID, Node: h.Node, Principal: h.Principal, Delegates: h.Delegates})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// timeline serves a ticket's timeline (who did what, when; no field values) to whoever may
// see the ticket. The timeline comes from the log, complete at every position; a
// min_position waits for the tickets read model, which decides who may see the ticket.
func (s *Server) timeline(w http.ResponseWriter, r *http.Request) error {
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	id := chi.URLParam(r, "ticket_id")
	if _, err := s.cfg.ReadSide.Tickets.AsSeenBy(r.Context(), id, viewerOf(callerOf(r.Context()))); err != nil {
		return err
	}
	entries, err := s.cfg.ReadSide.Timeline.Of(r.Context(), id)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		out = append(out, map[string]any{"version": e.Version, "position": e.Position, "type": e.Type, "actor": e.Actor,
			"on_behalf_of": e.OnBehalfOf, "source": e.Source, "node": e.Node, "comment": e.Comment, "detail": e.Detail,
			"at": e.At, "recorded_at": e.RecordedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket_id": id, "entries": out})
	return nil
}

type recordView struct {
	Version  uint64              `json:"version"`
	Position eventstore.Position `json:"position"`
	Type     string              `json:"type"`
	Data     json.RawMessage     `json:"data"`
	Metadata envelope.Metadata   `json:"metadata"`
	Prev     envelope.Hash       `json:"prev"`
	Hash     envelope.Hash       `json:"hash"`
	Recorded time.Time           `json:"recorded_at"`
	Verified bool                `json:"verified"`
	Error    string              `json:"error,omitempty"`
}

// history serves a ticket's events from the log with the hash chain verified; a broken
// chain is reported, not refused.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	h, err := s.cfg.ReadSide.Audit.History(r.Context(), chi.URLParam(r, "ticket_id"))
	if err != nil {
		return err
	}
	writeHistory(w, map[string]any{"ticket_id": h.TicketID}, h)
	return nil
}

// principalHistory serves a principal's events from the log (roles, groups, tokens granted
// and revoked) with the hash chain verified: who could approve what, and since when.
func (s *Server) principalHistory(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "principal_id")
	h, err := s.cfg.ReadSide.Audit.PrincipalHistory(r.Context(), id)
	if err != nil {
		return err
	}
	writeHistory(w, map[string]any{"principal_id": id}, h)
	return nil
}

// writeHistory writes a verified stream history, adding its fields to out.
func writeHistory(w http.ResponseWriter, out map[string]any, h audit.History) {
	out["intact"], out["head"] = h.Intact, h.Head
	if h.Break != nil {
		out["break"] = map[string]any{"version": h.Break.Version, "reason": h.Break.Error()}
	}
	recs := make([]recordView, 0, len(h.Records))
	for _, rec := range h.Records {
		v := recordView{Version: rec.Version, Position: rec.Position, Type: rec.Type, Data: rawJSON(rec.Data), Metadata: rec.Metadata,
			Prev: rec.Prev, Hash: rec.Hash, Recorded: rec.Recorded, Verified: rec.Verified}
		if rec.Err != nil {
			v.Error = rec.Err.Error()
		}
		recs = append(recs, v)
	}
	out["records"] = recs
	writeJSON(w, http.StatusOK, out)
}

func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// stateAt serves a ticket's state replayed from the verified log as of an instant (at) or
// a log position (position).
func (s *Server) stateAt(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "ticket_id")
	q := r.URL.Query()
	var (
		snap audit.Snapshot
		err  error
	)
	switch {
	case q.Get("position") != "":
		pos, perr := eventstore.ParsePosition(q.Get("position"))
		if perr != nil {
			return badParameter("query.position", "not a log position")
		}
		snap, err = s.cfg.ReadSide.Audit.StateAtPosition(r.Context(), id, pos)
	case q.Get("at") != "":
		at, perr := time.Parse(time.RFC3339Nano, q.Get("at"))
		if perr != nil {
			return badParameter("query.at", "not an RFC 3339 time")
		}
		snap, err = s.cfg.ReadSide.Audit.StateAt(r.Context(), id, at)
	default:
		return badParameter("query.at", "give at or position")
	}
	if err != nil {
		return err
	}
	if snap.Version == 0 {
		return domain.Errorf(domain.NotFound, "not-yet-submitted", "ticket %s was not yet submitted at that point of the log", id)
	}
	writeJSON(w, http.StatusOK, snapshotView(snap))
	return nil
}

func (s *Server) workbench(w http.ResponseWriter, r *http.Request) error {
	q, err := workbenchQuery(r)
	if err != nil {
		return err
	}
	q.List = projections.List(chi.URLParam(r, "list"))
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	page, err := s.cfg.ReadSide.Workbench.List(r.Context(), q)
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.Invalid && de.Field == "cursor" {
		return badParameter("query.cursor", de.Message)
	}
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(page.Items))
	for _, it := range page.Items {
		items = append(items, map[string]any{"ticket_id": it.TicketID, "title": it.Title, "business_key": it.BusinessKey,
			"process": it.ProcessKey, "process_version": it.ProcessVersion, "system": it.System, "submitter": it.Submitter,
			"ticket_status": it.TicketStatus, "current_node": it.CurrentNode, "submitted_at": it.SubmittedAt, "updated_at": it.UpdatedAt,
			"task_id": it.TaskID, "node": it.Node, "assignee": it.Assignee, "task_status": it.TaskStatus, "pending_since": timeOrNil(it.PendingSince),
			"decided_at": timeOrNil(it.DecidedAt), "decided_by": it.DecidedBy, "on_behalf_of": it.OnBehalfOf, "due_at": timeOrNil(it.DueAt),
			"ticket_due_at": timeOrNil(it.TicketDueAt),
			"as_delegate":   it.AsDelegate})
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": q.List, "items": items, "next": page.Next})
	return nil
}

func (s *Server) workbenchCounts(w http.ResponseWriter, r *http.Request) error {
	q, err := workbenchQuery(r)
	if err != nil {
		return err
	}
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	c, err := s.cfg.ReadSide.Workbench.Counts(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pending": c.Pending, "done": c.Done, "submitted": c.Submitted, "cc": c.CC})
	return nil
}

func workbenchQuery(r *http.Request) (projections.WorkbenchQuery, error) {
	v := r.URL.Query()
	c := callerOf(r.Context())
	q := projections.WorkbenchQuery{Principal: c.ID, Process: v.Get("process"), Status: v.Get("status"),
		Text: v.Get("q"), Cursor: v.Get("cursor")}
	if p := v.Get("principal"); p != "" && p != c.ID {
		if !c.Has(commands.RoleAdmin) && !c.Has(commands.RoleAuditor) {
			return q, domain.Errorf(domain.Forbidden, "not-principal", "only admins and auditors may read another principal's workbench")
		}
		q.Principal = p
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, badParameter("query.limit", "not a number")
		}
		q.Limit = n
	}
	if s := v.Get("due_before"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, badParameter("query.due_before", "not an RFC 3339 time")
		}
		q.DueBefore = t
	}
	return q, nil
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func (s *Server) statistics(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q := projections.StatsQuery{Process: v.Get("process")}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return badParameter("query."+name, "not an RFC 3339 time")
			}
			*dst = t
		}
	}
	if err := s.waitProjection(r, projections.TicketsName); err != nil {
		return err
	}
	var (
		stats []projections.HandlingStats
		err   error
	)
	switch chi.URLParam(r, "by") {
	case "nodes":
		stats, err = s.cfg.ReadSide.Statistics.ByNode(r.Context(), q)
	case "approvers":
		stats, err = s.cfg.ReadSide.Statistics.ByApprover(r.Context(), q)
	default:
		return domain.Errorf(domain.NotFound, codeNoRoute, "statistics are by nodes or by approvers")
	}
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(stats))
	for _, st := range stats {
		out = append(out, map[string]any{"key": st.Key, "count": st.Count, "mean_seconds": st.Mean.Seconds(),
			"p50_seconds": st.P50.Seconds(), "p90_seconds": st.P90.Seconds(), "sla_hits": st.SLAHits, "sla_misses": st.SLAMisses})
	}
	writeJSON(w, http.StatusOK, map[string]any{"by": chi.URLParam(r, "by"), "items": out})
	return nil
}

func (s *Server) projectionStatus(w http.ResponseWriter, r *http.Request) error {
	sts, err := s.cfg.ReadSide.Runner.Status(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(sts))
	for _, st := range sts {
		out = append(out, map[string]any{"name": st.Name, "checkpoint": st.Checkpoint, "head": st.Head, "healthy": st.Healthy,
			"error": st.Err, "running": st.Running, "active": st.Active, "caught_up": st.CaughtUp, "events_applied": st.EventsApplied,
			"lag_events": st.Lag.Events, "lag_events_at_least": st.Lag.EventsAtLeast, "lag_seconds": st.Lag.Time.Seconds(),
			"updated_at": timeOrNil(st.UpdatedAt), "last_event_at": timeOrNil(st.LastEventAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"projections": out})
	return nil
}
