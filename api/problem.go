package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// ProblemTypePrefix starts the type URI of every problem; the error code follows it.
const ProblemTypePrefix = "urn:ticketledger:problem:"

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Code     string       `json:"code"`
	Request  string       `json:"request_id,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// FieldError names one offending input.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Codes of the errors the HTTP layer itself raises, as domain.Error codes.
const (
	codeMalformed        = "malformed-json"
	codeMalformedYAML    = "malformed-yaml"
	codeMediaType        = "unsupported-media-type"
	codeTooLarge         = "body-too-large"
	codeBadParameter     = "invalid-parameter"
	codeInvalid          = "invalid-request"
	codeNoRoute          = "no-such-route"
	codeMethod           = "method-not-allowed"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
	codeContention       = "contention"
	codeTampered         = "tampered-history"
	codeEventTooLarge    = "change-too-large"
	codeClientClosed     = "client-closed-request"
	codeProjectionBehind = "projection-behind"
)

// problemOf maps an error to its problem: the one place where errors become HTTP
// statuses. The second result reports an internal error, to be logged.
func problemOf(err error) (Problem, bool) {
	var (
		de   *domain.Error
		mbe  *http.MaxBytesError
		be   *envelope.BreakError
		verr *validationError
	)
	switch {
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body exceeds %d bytes", mbe.Limit)), false
	case errors.As(err, &verr):
		p := newProblem(verr.status, verr.code, verr.detail)
		p.Errors = verr.errors
		return p, false
	case errors.As(err, &de):
		p := newProblem(statusOfKind(de), de.Code, de.Message)
		if ps := process.AsProblems(de); len(ps) > 0 {
			for _, x := range ps {
				p.Errors = append(p.Errors, FieldError{Path: x.Path, Message: x.Message})
			}
		} else if de.Field != "" {
			p.Errors = []FieldError{{Path: de.Field, Message: de.Message}}
		}
		if de.Kind == domain.Internal {
			p.Detail = "an internal error occurred; it has been logged"
			return p, true
		}
		return p, false
	case errors.Is(err, commands.ErrConflict):
		return newProblem(http.StatusConflict, codeContention, "too many concurrent changes to the same item; try again"), false
	case errors.Is(err, eventstore.ErrEventTooLarge):
		return newProblem(http.StatusRequestEntityTooLarge, codeEventTooLarge, "the change is too large to record"), false
	case errors.Is(err, projections.ErrWaitTimeout):
		return newProblem(http.StatusServiceUnavailable, codeProjectionBehind, "the read model has not reached min_position yet; try again"), false
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "a dependency is unavailable; try again"), false
	case errors.As(err, &be):
		return newProblem(http.StatusInternalServerError, codeTampered, "the stored history does not verify; it has been logged"), true
	}
	return newProblem(http.StatusInternalServerError, codeInternal, "an internal error occurred; it has been logged"), true
}

// statusOfKind is the HTTP status of a domain error.
func statusOfKind(e *domain.Error) int {
	switch e.Kind {
	case domain.Invalid:
		switch e.Code {
		case codeMalformed, codeBadParameter:
			return http.StatusBadRequest
		case codeMediaType:
			return http.StatusUnsupportedMediaType
		}
		return http.StatusUnprocessableEntity
	case domain.Unauthenticated:
		return http.StatusUnauthorized
	case domain.Forbidden:
		return http.StatusForbidden
	case domain.NotFound:
		if e.Code == codeMethod {
			return http.StatusMethodNotAllowed
		}
		return http.StatusNotFound
	case domain.Conflict:
		return http.StatusConflict
	case domain.TooSoon:
		return http.StatusTooManyRequests
	case domain.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func newProblem(status int, code, detail string) Problem {
	return Problem{Type: ProblemTypePrefix + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

// validationError is a request that breaks its operation in the OpenAPI document.
type validationError struct {
	status       int
	code, detail string
	errors       []FieldError
}

func (e *validationError) Error() string { return e.detail }

// fromOpenAPI turns the errors of openapi3filter into one validationError: a bad
// parameter is a 400, a body that breaks its schema a 422 with each violation's path.
func fromOpenAPI(err error) *validationError {
	v := &validationError{status: http.StatusUnprocessableEntity, code: codeInvalid, detail: "the request does not match the API's schema"}
	var walk func(error, string)
	walk = func(err error, prefix string) {
		var se *openapi3.SchemaError
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, x := range e {
				walk(x, prefix)
			}
		case *openapi3filter.RequestError:
			if e.Parameter != nil {
				v.status, v.code = http.StatusBadRequest, codeBadParameter
				v.detail = "a parameter does not match the API's schema"
				msg := e.Reason
				if errors.As(e.Err, &se) {
					msg = se.Reason
				} else if e.Err != nil && msg == "" {
					msg = e.Err.Error()
				}
				v.errors = append(v.errors, FieldError{Path: e.Parameter.In + "." + e.Parameter.Name, Message: msg})
				return
			}
			if e.Err != nil {
				n := len(v.errors)
				walk(e.Err, prefix)
				if len(v.errors) > n {
					return
				}
			}
			v.errors = append(v.errors, FieldError{Path: "body", Message: strings.TrimSpace(e.Reason)})
		case *openapi3.SchemaError:
			path := strings.Join(e.JSONPointer(), ".")
			if path == "" {
				path = prefix
			} else if prefix != "" {
				path = prefix + "." + path
			}
			v.errors = append(v.errors, FieldError{Path: path, Message: e.Reason})
		default:
			if errors.As(err, &se) {
				walk(se, prefix)
				return
			}
			v.errors = append(v.errors, FieldError{Path: prefix, Message: err.Error()})
		}
	}
	walk(err, "")
	return v
}

// statusClientClosed is the status recorded for a request that its client gave up on
// before the answer (nginx's 499): nothing failed in the server, and nobody reads it.
const statusClientClosed = 499

// writeProblem answers with the problem of err, logging internal errors once. A request
// ended because its client went away is not one.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p, internal := problemOf(err)
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		p, internal = newProblem(statusClientClosed, codeClientClosed, "the client closed the request before its answer"), false
		p.Title = "Client Closed Request"
		s.logger.DebugContext(r.Context(), "request abandoned by its client", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	p.Instance = r.URL.Path
	p.Request = requestID(r.Context())
	if internal {
		s.logger.ErrorContext(r.Context(), "request failed", "request_id", p.Request, "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ticketledger"`)
	}
	if after := retryAfter(err, p, s.cfg.Now()); after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(after))
	}
	writeBody(w, p.Status, "application/problem+json", p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBody(w, status, "application/json", v)
}

func writeBody(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, status, contentType = []byte(`{"type":"`+ProblemTypePrefix+codeInternal+`","title":"Internal Server Error","status":500,"code":"internal"}`), 500, "application/problem+json"
		slog.Error("api: encode response", "error", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// retryAfter is the Retry-After of an answer, in whole seconds (0: none): until the
// RetryAt of a TooSoon refusal, rounded up; one second for a dependency that failed or a
// read model that has not reached min_position yet, which a retry may find recovered (not
// for a part this ticketd does not run, such as the relay).
func retryAfter(err error, p Problem, now time.Time) int {
	var de *domain.Error
	switch {
	case errors.As(err, &de) && de.Kind == domain.TooSoon && !de.RetryAt.IsZero():
		return max(1, int(math.Ceil(de.RetryAt.Sub(now).Seconds())))
	case p.Status == http.StatusServiceUnavailable && (p.Code == codeUnavailable || p.Code == codeProjectionBehind):
		return 1
	}
	return 0
}
