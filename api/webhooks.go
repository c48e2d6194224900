package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/relay"
)

// Webhook endpoints, deliveries and attempts are the relay's operational records (rows in
// relay.Store, not events): the operations below are not commands on the log, carry no
// log position and do not honour Idempotency-Key.
//
// Who may do what:
//   - admins: everything, for every business system;
//   - auditors: read everything (endpoints, deliveries, attempts);
//   - a business system's service principal: everything for the endpoints of its own
//     system (register, change, enable, disable, rotate, read, redeliver);
//   - anyone else: 403.
//
// When the relay role is off (Config.Webhooks is nil) every webhook operation answers
// 503 with the problem code "relay-off"; the routes stay registered so that the router
// matches the OpenAPI document in every configuration.

// codeRelayOff is the problem code of a webhook operation on a server without the relay.
const codeRelayOff = "relay-off"

// webhookRoutes returns the routes of the webhook operations.
func (s *Server) webhookRoutes() []routeSpec {
	return []routeSpec{
		{"GET", "/v1/webhooks", anyone, s.listWebhooks},
		{"POST", "/v1/webhooks", anyone, s.registerWebhook},
		{"GET", "/v1/webhooks/{endpoint_id}", anyone, s.getWebhook},
		{"PATCH", "/v1/webhooks/{endpoint_id}", anyone, s.changeWebhook},
		{"DELETE", "/v1/webhooks/{endpoint_id}", anyone, s.deleteWebhook},
		{"POST", "/v1/webhooks/{endpoint_id}/enable", anyone, s.enableWebhook},
		{"POST", "/v1/webhooks/{endpoint_id}/disable", anyone, s.disableWebhook},
		{"POST", "/v1/webhooks/{endpoint_id}/rotate", anyone, s.rotateWebhook},
		{"GET", "/v1/webhooks/{endpoint_id}/deliveries", anyone, s.endpointDeliveries},
		{"POST", "/v1/webhooks/{endpoint_id}/redeliver-dead", anyone, s.redeliverDead},
		{"GET", "/v1/tickets/{ticket_id}/deliveries", anyone, s.ticketDeliveries},
		{"POST", "/v1/deliveries/{delivery_id}/redeliver", anyone, s.redeliver},
	}
}

// routeSpec is one route of a route table.
type routeSpec struct {
	method, pattern string
	acc             access
	h               handlerFunc
}

// webhooks returns the relay store, or the 503 problem of a server without the relay.
func (s *Server) webhooks() (*relay.Store, error) {
	if s.cfg.Webhooks == nil {
		return nil, domain.Errorf(domain.Unavailable, codeRelayOff, "the outcome relay is not running on this server (ticketd's relay role is off)")
	}
	return s.cfg.Webhooks, nil
}

// relayPoll is how often a read of deliveries given a min_position looks at the relay's
// progress.
const relayPoll = 20 * time.Millisecond

// waitRelayed waits, bounded, until the relay has recorded every outcome and execution
// report up to min_position, if given, so that a business system reads the outcome of
// its approval, or its own execution report, right after the command.
func (s *Server) waitRelayed(r *http.Request) error {
	pos, err := minPosition(r)
	if err != nil || pos.IsZero() {
		return err
	}
	if s.cfg.Relay == nil {
		return domain.Errorf(domain.Unavailable, codeRelayOff, "the outcome relay is not running on this server (ticketd's relay role is off)")
	}
	began := time.Now()
	err = s.cfg.Relay.WaitFor(r.Context(), pos, s.cfg.WaitTimeout, relayPoll)
	s.metrics.waited("relay", time.Since(began), err)
	return err
}

// webhookCaller returns the relay's store and the caller, who must be allowed to use
// webhooks at all (mayUseWebhooks); errors as webhooks and mayUseWebhooks return them.
func (s *Server) webhookCaller(r *http.Request) (*relay.Store, commands.Caller, error) {
	st, err := s.webhooks()
	if err != nil {
		return nil, commands.Caller{}, err
	}
	c := callerOf(r.Context())
	if err := mayUseWebhooks(c); err != nil {
		return nil, c, err
	}
	return st, c, nil
}

// webhookReader reports whether the caller may read every system's webhooks.
func webhookReader(c commands.Caller) bool {
	return c.Has(commands.RoleAdmin) || c.Has(commands.RoleAuditor)
}

// mayManage checks that the caller may change (or, with read, read) the webhooks of
// system: admins always, auditors to read, a service principal for its own system.
func mayManage(c commands.Caller, system string, read bool) error {
	switch {
	case c.Has(commands.RoleAdmin), read && c.Has(commands.RoleAuditor):
		return nil
	case c.System != "" && c.System == system:
		return nil
	case c.System != "":
		return domain.Errorf(domain.Forbidden, "not-your-system", "a business system manages only its own webhooks (this principal speaks for %s)", c.System)
	}
	return domain.Errorf(domain.Forbidden, "missing-role", "webhooks are managed by admins and by the business system they belong to")
}

// mayUseWebhooks refuses, before any lookup, callers who can manage no webhook at all.
func mayUseWebhooks(c commands.Caller) error {
	if webhookReader(c) || c.System != "" {
		return nil
	}
	return domain.Errorf(domain.Forbidden, "missing-role", "webhooks are managed by admins and by the business system they belong to")
}

func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, name))
	if err != nil {
		return uuid.Nil, badParameter("path."+name, "not a UUID")
	}
	return id, nil
}

// endpointFor loads the endpoint named by the path and checks the caller's access to it.
// Another system's endpoint is reported as not found, so that systems do not learn of
// each other's endpoints.
func (s *Server) endpointFor(r *http.Request, read bool) (*relay.Store, relay.Endpoint, error) {
	st, err := s.webhooks()
	if err != nil {
		return nil, relay.Endpoint{}, err
	}
	c := callerOf(r.Context())
	if err := mayUseWebhooks(c); err != nil {
		return nil, relay.Endpoint{}, err
	}
	id, err := pathUUID(r, "endpoint_id")
	if err != nil {
		return nil, relay.Endpoint{}, err
	}
	e, err := st.Endpoint(r.Context(), id)
	if err != nil {
		return nil, relay.Endpoint{}, err
	}
	if err := mayManage(c, e.System, read); err != nil {
		if c.System != "" && !webhookReader(c) {
			return nil, relay.Endpoint{}, domain.Errorf(domain.NotFound, "no-such-endpoint", "no endpoint %s", id)
		}
		return nil, relay.Endpoint{}, err
	}
	return st, e, nil
}

// endpointView is an endpoint as the API shows it; its secrets never appear here.
type endpointView struct {
	ID             string       `json:"id"`
	System         string       `json:"system"`
	URL            string       `json:"url"`
	Description    string       `json:"description,omitempty"`
	Processes      []string     `json:"processes"`
	Outcomes       []string     `json:"outcomes"`
	Enabled        bool         `json:"enabled"`
	DisabledReason string       `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	Secrets        []secretView `json:"secrets,omitempty"`
	Secret         string       `json:"secret,omitempty"`
}

// secretView describes one signing secret without revealing it.
type secretView struct {
	Serial    int       `json:"serial"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func endpointViewOf(e relay.Endpoint) endpointView {
	return endpointView{ID: e.ID.String(), System: e.System, URL: e.URL, Description: e.Description,
		Processes: nonNil(e.Processes), Outcomes: nonNil(e.Outcomes), Enabled: e.Enabled, DisabledReason: e.DisabledReason,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// attemptView is one POST of a delivery.
type attemptView struct {
	Number    int       `json:"number"`
	At        time.Time `json:"at"`
	Status    int       `json:"status"`
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
	Response  string    `json:"response,omitempty"`
}

// deliveryView is a delivery with its attempts, newest first.
type deliveryView struct {
	ID            string        `json:"id"`
	WebhookID     string        `json:"webhook_id"`
	EndpointID    string        `json:"endpoint_id"`
	EventID       string        `json:"event_id"`
	TicketID      string        `json:"ticket_id"`
	Outcome       string        `json:"outcome"`
	State         string        `json:"state"`
	AttemptCount  int           `json:"attempt_count"`
	Failures      int           `json:"failures"`
	NextAttemptAt time.Time     `json:"next_attempt_at,omitzero"`
	LastStatus    int           `json:"last_status"`
	LastError     string        `json:"last_error,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	DeliveredAt   time.Time     `json:"delivered_at,omitzero"`
	DeadAt        time.Time     `json:"dead_at,omitzero"`
	Attempts      []attemptView `json:"attempts"`
}

// deliveryViews renders deliveries with their attempts.
func deliveryViews(ctx context.Context, st *relay.Store, ds []relay.Delivery) ([]deliveryView, error) {
	out := make([]deliveryView, 0, len(ds))
	for _, d := range ds {
		v := deliveryView{ID: d.ID.String(), WebhookID: d.ID.String(), EndpointID: d.EndpointID.String(), EventID: d.EventID.String(),
			TicketID: d.TicketID, Outcome: d.Outcome, State: string(d.State), AttemptCount: d.Attempts, Failures: d.Failures,
			LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
			DeliveredAt: d.DeliveredAt, DeadAt: d.DeadAt, Attempts: []attemptView{}}
		if d.State == relay.Pending {
			v.NextAttemptAt = d.NextAttemptAt
		}
		as, err := st.Attempts(ctx, relay.AttemptQuery{DeliveryID: d.ID, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			v.Attempts = append(v.Attempts, attemptView{Number: a.Number, At: a.StartedAt, Status: a.Status,
				LatencyMS: float64(a.Latency.Microseconds()) / 1000, Error: a.Error, Response: a.Response})
		}
		out = append(out, v)
	}
	return out, nil
}

type webhookBody struct {
	System      string    `json:"system"`
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Processes   *[]string `json:"processes"`
	Outcomes    *[]string `json:"outcomes"`
	Enabled     *bool     `json:"enabled"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// registerWebhook registers an endpoint and answers 201 with its secret, shown this once.
func (s *Server) registerWebhook(w http.ResponseWriter, r *http.Request) error {
	st, err := s.webhooks()
	if err != nil {
		return err
	}
	var b webhookBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := mayManage(callerOf(r.Context()), b.System, false); err != nil {
		return err
	}
	e, secret, err := st.RegisterEndpoint(r.Context(), relay.NewEndpoint{System: b.System, URL: deref(b.URL),
		Description: deref(b.Description), Processes: deref(b.Processes), Outcomes: deref(b.Outcomes),
		Disabled: b.Enabled != nil && !*b.Enabled})
	if err != nil {
		return err
	}
	v := endpointViewOf(e)
	v.Secret = secret.Reveal()
	w.Header().Set("Location", "/v1/webhooks/"+e.ID.String())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// listWebhooks lists endpoints: every one for admins and auditors (optionally of one
// system), a service principal's own system's otherwise.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.webhookCaller(r)
	if err != nil {
		return err
	}
	system := r.URL.Query().Get("system")
	if !webhookReader(c) {
		if system != "" && system != c.System {
			return mayManage(c, system, true)
		}
		system = c.System
	}
	es, err := st.Endpoints(r.Context(), relay.EndpointQuery{System: system})
	if err != nil {
		return err
	}
	out := make([]endpointView, 0, len(es))
	for _, e := range es {
		out = append(out, endpointViewOf(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
	return nil
}

// getWebhook serves one endpoint with its secrets' serials and lifetimes (never the
// secrets themselves).
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, true)
	if err != nil {
		return err
	}
	v := endpointViewOf(e)
	secrets, err := st.EndpointSecrets(r.Context(), e.ID)
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		v.Secrets = append(v.Secrets, secretView{Serial: sec.Serial, CreatedAt: sec.CreatedAt, ExpiresAt: sec.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// changeWebhook changes an endpoint's URL, description, processes or outcomes.
func (s *Server) changeWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	var b webhookBody
	if err := decode(r, &b); err != nil {
		return err
	}
	e, err = st.UpdateEndpoint(r.Context(), e.ID, relay.EndpointChange{URL: b.URL, Description: b.Description,
		Processes: b.Processes, Outcomes: b.Outcomes})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointViewOf(e))
	return nil
}

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	if e, err = st.EnableEndpoint(r.Context(), e.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointViewOf(e))
	return nil
}

func (s *Server) disableWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Reason == "" {
		b.Reason = "disabled by " + callerOf(r.Context()).ID
	}
	if e, err = st.DisableEndpoint(r.Context(), e.ID, b.Reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointViewOf(e))
	return nil
}

// deleteWebhook deletes an endpoint with its secrets and deliveries: the way to stop one
// for good, where disabling pauses it and keeps its deliveries waiting.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	if err := st.DeleteEndpoint(r.Context(), e.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateWebhook gives the endpoint a new secret, shown this once; the previous secrets
// keep signing for the overlap (default relay.DefaultSecretOverlap; "0s" retires them at
// once).
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	var b struct {
		Overlap *string `json:"overlap"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	overlap := relay.DefaultSecretOverlap
	if b.Overlap != nil {
		d, err := time.ParseDuration(*b.Overlap)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return domain.FieldError("invalid", "overlap", "want a duration between 0s and 720h, such as 24h")
		}
		overlap = d
		if d == 0 {
			overlap = -1
		}
	}
	secret, err := st.RotateSecret(r.Context(), e.ID, overlap)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"endpoint_id": e.ID.String(), "secret": secret.Reveal(),
		"previous_expires_at": now.Add(max(overlap, 0)).Truncate(time.Second)})
	return nil
}

// deliveryQuery reads the state, limit and offset parameters.
func deliveryQuery(r *http.Request) (relay.DeliveryQuery, error) {
	q := r.URL.Query()
	dq := relay.DeliveryQuery{State: relay.DeliveryState(q.Get("state"))}
	for name, p := range map[string]*int{"limit": &dq.Limit, "offset": &dq.Offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return dq, badParameter("query."+name, "not a non-negative integer")
			}
			*p = n
		}
	}
	return dq, nil
}

// endpointDeliveries lists an endpoint's deliveries (newest first), each with its
// attempts.
func (s *Server) endpointDeliveries(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, true)
	if err != nil {
		return err
	}
	q, err := deliveryQuery(r)
	if err != nil {
		return err
	}
	q.EndpointID = e.ID
	if err := s.waitRelayed(r); err != nil {
		return err
	}
	ds, err := st.Deliveries(r.Context(), q)
	if err != nil {
		return err
	}
	out, err := deliveryViews(r.Context(), st, ds)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint_id": e.ID.String(), "deliveries": out})
	return nil
}

// outcomeView is a relayed outcome with the business system's execution report.
type outcomeView struct {
	EventID   string         `json:"event_id"`
	Outcome   string         `json:"outcome"`
	System    string         `json:"system"`
	Process   string         `json:"process"`
	Position  string         `json:"position"`
	DecidedAt time.Time      `json:"decided_at"`
	RelayedAt time.Time      `json:"relayed_at"`
	Execution *executionView `json:"execution,omitempty"`
}

type executionView struct {
	Status     string    `json:"status"`
	Detail     string    `json:"detail,omitempty"`
	ReportedBy string    `json:"reported_by"`
	At         time.Time `json:"at"`
	WebhookID  string    `json:"webhook_id,omitempty"`
}

// ticketDeliveries lists the outcomes relayed for a ticket and their deliveries with
// attempts: all of them for admins and auditors, those to its own endpoints for a
// business system.
func (s *Server) ticketDeliveries(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.webhookCaller(r)
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "ticket_id")
	q, err := deliveryQuery(r)
	if err != nil {
		return err
	}
	q.TicketID = id
	if err := s.waitRelayed(r); err != nil {
		return err
	}
	ds, err := st.Deliveries(r.Context(), q)
	if err != nil {
		return err
	}
	outcomes, err := st.Outcomes(r.Context(), id)
	if err != nil {
		return err
	}
	if !webhookReader(c) {
		own, err := st.Endpoints(r.Context(), relay.EndpointQuery{System: c.System})
		if err != nil {
			return err
		}
		mine := map[uuid.UUID]bool{}
		for _, e := range own {
			mine[e.ID] = true
		}
		kept := ds[:0]
		for _, d := range ds {
			if mine[d.EndpointID] {
				kept = append(kept, d)
			}
		}
		ds = kept
		keptOutcomes := outcomes[:0]
		for _, o := range outcomes {
			if o.System == c.System {
				keptOutcomes = append(keptOutcomes, o)
			}
		}
		outcomes = keptOutcomes
	}
	dv, err := deliveryViews(r.Context(), st, ds)
	if err != nil {
		return err
	}
	ov := make([]outcomeView, 0, len(outcomes))
	for _, o := range outcomes {
		v := outcomeView{EventID: o.EventID.String(), Outcome: o.Outcome, System: o.System, Process: o.ProcessKey,
			Position: o.Position, DecidedAt: o.DecidedAt, RelayedAt: o.RelayedAt}
		if o.Execution.Status != "" {
			v.Execution = &executionView{Status: o.Execution.Status, Detail: o.Execution.Detail, ReportedBy: o.Execution.ReportedBy,
				At: o.Execution.At, WebhookID: o.Execution.WebhookID}
		}
		ov = append(ov, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket_id": id, "outcomes": ov, "deliveries": dv})
	return nil
}

// redeliver sends one delivery again, with the same webhook-id, whatever its state.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.webhookCaller(r)
	if err != nil {
		return err
	}
	id, err := pathUUID(r, "delivery_id")
	if err != nil {
		return err
	}
	d, err := st.Delivery(r.Context(), id)
	if err != nil {
		return err
	}
	e, err := st.Endpoint(r.Context(), d.EndpointID)
	if err != nil {
		return err
	}
	if err := mayManage(c, e.System, false); err != nil {
		if c.System != "" && !webhookReader(c) {
			return domain.Errorf(domain.NotFound, "no-such-delivery", "no delivery %s", id)
		}
		return err
	}
	if d, err = st.Redeliver(r.Context(), id); err != nil {
		return err
	}
	out, err := deliveryViews(r.Context(), st, []relay.Delivery{d})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// redeliverDead revives every dead delivery of an endpoint.
func (s *Server) redeliverDead(w http.ResponseWriter, r *http.Request) error {
	st, e, err := s.endpointFor(r, false)
	if err != nil {
		return err
	}
	n, err := st.RedeliverDead(r.Context(), e.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint_id": e.ID.String(), "redelivered": n})
	return nil
}
