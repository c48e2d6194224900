package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/principal"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyCaller
	keyBody
	keyArrived
)

// arrivedAt returns when the request arrived (requestIDs notes it), or now.
func arrivedAt(ctx context.Context) time.Time {
	if t, ok := ctx.Value(keyArrived).(time.Time); ok {
		return t
	}
	return time.Now()
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func callerOf(ctx context.Context) commands.Caller {
	c, _ := ctx.Value(keyCaller).(commands.Caller)
	return c
}

func bodyOf(ctx context.Context) []byte {
	b, _ := ctx.Value(keyBody).([]byte)
	return b
}

// recoverer answers a panic with a 500 problem and logs it once with its stack. A
// response already started is cut short instead.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer, routed or not, says in Server-Timing how long it took; the
		// writers of the operations (handle) say it first, with their pacing.
		rw := &statusWriter{ResponseWriter: w, began: arrivedAt(r.Context())}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic in handler", "request_id", requestID(r.Context()), "method", r.Method,
				"path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rw.status != 0 {
				return
			}
			p := newProblem(http.StatusInternalServerError, codeInternal, "an internal error occurred; it has been logged")
			p.Instance, p.Request = r.URL.Path, requestID(r.Context())
			writeBody(rw, p.Status, "application/problem+json", p)
		}()
		next.ServeHTTP(rw, r)
	})
}

// requestIDs gives every request an id: the caller's X-Request-ID when it is short and
// printable, else a random one; it is echoed in the response. It notes when the request
// arrived, from which its Server-Timing counts.
func requestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 100 || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyArrived, arrived)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter remembers the status written, and runs before, if set, once before the
// answer starts. It gives every answer a Server-Timing header: "app" is the time from the
// request's arrival to its answer's start; "store", for a command that appended (or
// tried to append) events, the part of it spent in the event store's appends (their wait
// for a group commit included); "paced", when there was a wait, the part the answer waited for a read model.
// A client that sets them beside its own measurement sees how much of its latency the
// server spent, and on what.
type statusWriter struct {
	http.ResponseWriter
	status int
	began  time.Time
	// appends, for a command, adds up its appends' time.
	appends *commands.AppendTiming
	// before runs once as the answer starts and returns how long it waited.
	before func() time.Duration
}

func (w *statusWriter) start(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	var paced time.Duration
	if w.before != nil {
		paced = w.before()
	}
	if !w.began.IsZero() && w.Header().Get("Server-Timing") == "" {
		var store time.Duration
		if w.appends != nil {
			store = w.appends.Total()
		}
		w.Header().Set("Server-Timing", serverTiming(time.Since(w.began), store, paced))
	}
}

// serverTiming formats the Server-Timing header's value (W3C Server Timing): durations in
// milliseconds, to the microsecond; store and paced only when they are not zero.
func serverTiming(app, store, paced time.Duration) string {
	b := make([]byte, 0, 64)
	b = appendTiming(b, "app", app)
	if store > 0 {
		b = appendTiming(append(b, ", "...), "store", store)
	}
	if paced > 0 {
		b = appendTiming(append(b, ", "...), "paced", paced)
	}
	return string(b)
}

// appendTiming appends one Server-Timing metric with its duration.
func appendTiming(b []byte, name string, d time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func (w *statusWriter) WriteHeader(code int) {
	w.start(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access is who may call a route.
type access struct {
	// public routes need no token.
	public bool
	// roles, when set, are the roles any of which the caller must hold (admin always may).
	roles []string
}

// handle registers an operation of the document: authentication, role check, body
// limit, content-type and JSON checks, OpenAPI validation, then h; errors become problems.
func (s *Server) handle(method, pattern string, acc access, h handlerFunc) error {
	item := s.doc.Paths.Find(pattern)
	if item == nil || item.GetOperation(method) == nil {
		return fmt.Errorf("api: route %s %s is not in the OpenAPI document", method, pattern)
	}
	op := item.GetOperation(method)
	route := &routers.Route{Spec: s.validation, Path: pattern, PathItem: item, Method: method, Operation: op}
	command := method != http.MethodGet
	s.mu.Lock()
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, OperationID: op.OperationID})
	s.mu.Unlock()
	s.router.Method(method, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := arrivedAt(r.Context())
		sw := &statusWriter{ResponseWriter: w, began: start}
		if command {
			var ctx context.Context
			ctx, sw.appends = commands.WithAppendTiming(r.Context())
			r = r.WithContext(ctx)
		}
		if command && s.cfg.ReadSide != nil {
			// The pacer's hold is taken as the command arrives and waited for before its
			// answer goes out, so that the wait overlaps the command's own work.
			pacer := s.cfg.ReadSide.Pacer
			hold := pacer.Hold()
			sw.before = func() time.Duration {
				waited, _ := hold.Wait(r.Context())
				if waited > 0 {
					s.metrics.paced.WithLabelValues(pacer.Projection()).Observe(waited.Seconds())
				}
				return waited
			}
		}
		if err := s.serve(sw, r, route, acc, h); err != nil {
			s.writeProblem(sw, r, err)
		}
		s.metrics.observe(op.OperationID, method, command, sw.status, time.Since(start))
	}))
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route *routers.Route, acc access, h handlerFunc) error {
	if !acc.public {
		c, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if len(acc.roles) > 0 && !c.Has(commands.RoleAdmin) && !slices.ContainsFunc(acc.roles, c.Has) {
			return domain.Errorf(domain.Forbidden, "missing-role", "this operation needs one of the roles %s", strings.Join(acc.roles, ", "))
		}
		if c.System != "" && !c.Has(commands.RoleSystem) && !c.Has(commands.RoleAdmin) && route.Path != "/v1/me" {
			// A business system's authority over its tickets comes with the role: revoking it
			// stops the system without disabling the principal.
			return domain.Errorf(domain.Forbidden, "missing-role", "service principal %s acts for system %s only while it holds the role %s",
				c.ID, c.System, commands.RoleSystem)
		}
		r = r.WithContext(context.WithValue(r.Context(), keyCaller, c))
	}
	if route.Operation.RequestBody != nil {
		body, err := s.readBody(w, r, route.Operation.RequestBody.Value)
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), keyBody, body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) == 0 {
			r.Header.Del("Content-Type")
		}
	}
	params := make(map[string]string)
	if rc := chi.RouteContext(r.Context()); rc != nil {
		for i, k := range rc.URLParams.Keys {
			params[k] = rc.URLParams.Values[i]
		}
	}
	var jsonBody []byte
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		jsonBody = bodyOf(r.Context())
	}
	if err := checkText(r, params, jsonBody); err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{uuidFormat}}}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return fromOpenAPI(err)
	}
	if route.Operation.RequestBody != nil {
		r.Body = io.NopCloser(bytes.NewReader(bodyOf(r.Context())))
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" && honoursIdempotencyKey(route) {
		if err := s.cfg.Commands.ClaimIdempotencyKey(r.Context(), CommandID(callerOf(r.Context()).ID, key), fingerprint(r)); err != nil {
			return err
		}
	}
	return h(w, r)
}

// uuidFormat holds the document's `format: uuid` strings (ticket, token, endpoint and
// delivery ids) to the canonical 8-4-4-4-12 hexadecimal form, of any version, as the ids
// are written; the validator treats formats as annotations unless told.
var uuidFormat = openapi3.WithStringFormatValidator("uuid",
	openapi3.NewRegexpFormatValidator(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`))

// honoursIdempotencyKey reports whether route's operation takes an Idempotency-Key, itself
// or through its path.
func honoursIdempotencyKey(route *routers.Route) bool {
	if route.Operation.Parameters.GetByInAndName("header", "Idempotency-Key") != nil {
		return true
	}
	return route.PathItem != nil && route.PathItem.Parameters.GetByInAndName("header", "Idempotency-Key") != nil
}

// fingerprint digests what a command request asks: its method, path, the principal it
// acts for and its body. An Idempotency-Key stands for one fingerprint (see
// commands.Service.ClaimIdempotencyKey).
func fingerprint(r *http.Request) string {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.Header.Get("X-On-Behalf-Of")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(bodyOf(r.Context()))
	return hex.EncodeToString(h.Sum(nil))
}

// readBody reads a limited body and checks its media type against the operation's, and
// that a JSON body is well formed.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rb *openapi3.RequestBody) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &domain.Error{Kind: domain.Invalid, Code: codeMalformed, Message: "the body could not be read", Cause: err}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if rb.Required {
			return nil, &validationError{status: http.StatusBadRequest, code: codeMalformed, detail: "this operation needs a body",
				errors: []FieldError{{Path: "body", Message: "required"}}}
		}
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || rb.Content.Get(mt) == nil || !slices.Contains(mediaTypes(rb), mt) {
		return nil, domain.Errorf(domain.Invalid, codeMediaType, "the body must be one of %s", strings.Join(mediaTypes(rb), ", "))
	}
	if mt == "application/json" && !jsonValid(body) {
		return nil, domain.Errorf(domain.Invalid, codeMalformed, "the body is not well-formed JSON")
	}
	if mt == "application/yaml" {
		if err := yamlWellFormed(body); err != nil {
			return nil, &validationError{status: http.StatusBadRequest, code: codeMalformedYAML, detail: "the body is not well-formed YAML",
				errors: []FieldError{{Path: "body", Message: err.Error()}}}
		}
	}
	return body, nil
}

func mediaTypes(rb *openapi3.RequestBody) []string {
	out := make([]string, 0, len(rb.Content))
	for k := range rb.Content {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// authenticate resolves the bearer token and X-On-Behalf-Of into the caller.
func (s *Server) authenticate(r *http.Request) (commands.Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return commands.Caller{}, domain.Errorf(domain.Unauthenticated, "no-token", "send a bearer token in the Authorization header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return commands.Caller{}, domain.Errorf(domain.Unauthenticated, "invalid-token", "the Authorization header is not a bearer token")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WaitTimeout)
	defer cancel()
	c, err := s.cfg.Principals.Authenticate(ctx, strings.TrimSpace(token), s.cfg.Now())
	if err != nil {
		return c, err
	}
	if obo := r.Header.Get("X-On-Behalf-Of"); obo != "" && obo != c.ID {
		if !principal.ValidID(obo) {
			return c, badParameter("header.X-On-Behalf-Of", "not a principal id: 1 to 128 letters, digits, '.', '_', '@' and '-', beginning with a letter or digit")
		}
		c.OnBehalfOf = obo
	}
	return c, nil
}

// request returns the command envelope of r: the caller, the request, correlation and
// causation ids (X-Correlation-ID, X-Causation-Id: a business system reporting an
// execution names the webhook-id it answers), and with an Idempotency-Key a command id
// derived from caller and key (suffix distinguishes the items of a batch).
func request(r *http.Request, suffix string) commands.Request {
	c := callerOf(r.Context())
	req := commands.Request{Caller: c, RequestID: requestID(r.Context()), CorrelationID: r.Header.Get("X-Correlation-ID"),
		CausationID: headerID(r, "X-Causation-Id")}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		req.CommandID = CommandID(c.ID, key+suffix)
	} else {
		req.CommandID = uuid.New()
	}
	return req
}

// idempotencyNamespace is the UUIDv5 namespace of command ids derived from
// Idempotency-Key headers.
var idempotencyNamespace = uuid.MustParse("5b0b7d4e-0f7c-4b8e-9d0a-3a1f6c2e8b91")

// CommandID returns the command id of an Idempotency-Key sent by caller: the UUIDv5 of
// both, so that the same caller retrying with the same key issues the same command.
func CommandID(caller, key string) uuid.UUID {
	return uuid.NewSHA1(idempotencyNamespace, []byte(caller+"\x00"+key))
}

func badParameter(path, msg string) error {
	return &validationError{status: http.StatusBadRequest, code: codeBadParameter, detail: "a parameter is invalid",
		errors: []FieldError{{Path: path, Message: msg}}}
}

// headerID returns a correlation-style id header: at most 200 printable ASCII
// characters, else empty (ignored).
func headerID(r *http.Request, name string) string {
	v := strings.TrimSpace(r.Header.Get(name))
	if len(v) > 200 || strings.ContainsFunc(v, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return ""
	}
	return v
}
