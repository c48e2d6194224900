package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
	"github.com/ticketledger/ticketledger/relay"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// Document returns the OpenAPI document, parsed and validated. Errors: a document that does
// not load or validate (a defect of the build).
func Document(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("api: load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api: the OpenAPI document is invalid: %w", err)
	}
	return doc, nil
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultWaitTimeout  = 5 * time.Second
	MaxBatch            = 100
)

// ReadSide is the read models the query endpoints serve from. Its routes are left out of
// the router when it is nil.
type ReadSide struct {
	// Runner answers min_position waits and projection status.
	Runner      *projections.Runner
	Tickets     *projections.Tickets
	Workbench   *projections.Workbench
	Timeline    *projections.Timeline
	Statistics  *projections.Statistics
	Delegations *projections.Delegations
	// Audit reads a ticket's history from the log itself.
	Audit *audit.Log
	// Pacer, when set, holds commands' answers back while the tickets read model lags
	// behind the log (see projections.Pacer): a command owes what was due when it arrived,
	// runs, and its answer waits for the read model to pass that.
	Pacer *projections.Pacer
}

// Check is one readiness check: nil when the dependency is ready.
type Check func(ctx context.Context) error

// Config is what a Server serves. Commands, Definitions and Principals are required.
type Config struct {
	Commands    *commands.Service
	Definitions *commands.ProcessDefinitions
	Principals  *commands.PrincipalIndex
	// ReadSide is optional: without it the workbench, audit and statistics routes are
	// not served (and are absent from the document's check of the router).
	ReadSide *ReadSide
	// Webhooks is the outcome relay's store, behind the webhook operations (endpoints,
	// deliveries, attempts, redelivery). Nil when the relay does not run here: those
	// operations then answer 503 with the problem code "relay-off".
	Webhooks *relay.Store
	// Relay, set with Webhooks, is the relay whose progress a read of deliveries given a
	// min_position waits for. Without it such a read answers 503 "relay-off".
	Relay *relay.Relay
	// Checks are run by /readyz, by name.
	Checks map[string]Check
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Registerer receives the request and command latency metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger receives one record per internal error and panic. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WaitTimeout bounds a min_position wait. Default DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Now is the clock of token expiry checks. Default time.Now.
	Now func() time.Time
}

// Server is the HTTP handler of the API. It is safe for concurrent use.
type Server struct {
	cfg Config
	doc *openapi3.T
	// validation is the document requests are checked against (see validationView).
	validation *openapi3.T
	docJSON    []byte
	router     chi.Router
	logger     *slog.Logger
	metrics    *metrics

	mu     sync.Mutex
	routes []Route
}

// Route is one route of the router.
type Route struct {
	Method, Pattern, OperationID string
}

// New returns a Server for cfg. Errors: a missing required dependency, or a route that the
// OpenAPI document does not describe (a defect of the build).
func New(cfg Config) (*Server, error) {
	if cfg.Commands == nil || cfg.Definitions == nil || cfg.Principals == nil {
		return nil, fmt.Errorf("api: Commands, Definitions and Principals are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	doc, err := Document(context.Background())
	if err != nil {
		return nil, err
	}
	docJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: encode the OpenAPI document: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, doc: doc, validation: validationView(doc), docJSON: docJSON, logger: cfg.Logger, metrics: m}
	if err := s.buildRouter(); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Routes returns every route the router serves, in registration order.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Route(nil), s.routes...)
}

// Spec returns the OpenAPI document the server validates requests against.
func (s *Server) Spec() *openapi3.T { return s.doc }

// waitPrincipals waits until the principal index reflects min_position, if given.
func (s *Server) waitPrincipals(r *http.Request) error {
	pos, err := minPosition(r)
	if err != nil || pos.IsZero() {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WaitTimeout)
	defer cancel()
	return s.cfg.Principals.WaitFor(ctx, pos)
}

// waitProjection waits until the named projection reflects min_position, if given, and
// so does the delegations projection: what a delegate may see is read from its grants, so
// a read after a grant's position must not find them missing.
func (s *Server) waitProjection(r *http.Request, name string) error {
	pos, err := minPosition(r)
	if err != nil || pos.IsZero() {
		return err
	}
	if err := s.waitFor(r, name, pos); err != nil || name == projections.DelegationsName {
		return err
	}
	err = s.waitFor(r, projections.DelegationsName, pos)
	if errors.Is(err, projections.ErrUnknownProjection) {
		return nil
	}
	return err
}

// waitFor waits, bounded, until the named projection has passed pos, and records the
// wait.
func (s *Server) waitFor(r *http.Request, name string, pos eventstore.Position) error {
	began := time.Now()
	err := s.cfg.ReadSide.Runner.WaitFor(r.Context(), name, pos, s.cfg.WaitTimeout)
	if !errors.Is(err, projections.ErrUnknownProjection) {
		s.metrics.waited(name, time.Since(began), err)
	}
	return err
}

func minPosition(r *http.Request) (eventstore.Position, error) {
	v := r.URL.Query().Get("min_position")
	if v == "" {
		return eventstore.Start, nil
	}
	p, err := eventstore.ParsePosition(v)
	if err != nil {
		return p, badParameter("query.min_position", "not a log position")
	}
	return p, nil
}

// validationView returns the document as requests are validated against it: the same
// paths and schemas, marked OpenAPI 3.0. For a 3.1 document kin-openapi compiles a JSON
// Schema 2020-12 validator on every request (a quarter of the CPU a command costs); its
// 3.0 validator checks the same keywords with compiled patterns cached. The two agree
// because the document uses no keyword that only 3.1 knows (TestDocumentUses30Keywords).
func validationView(doc *openapi3.T) *openapi3.T {
	v := *doc
	v.OpenAPI = "3.0.3"
	return &v
}
