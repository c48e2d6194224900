package domain

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the callers that map it to a protocol (HTTP status, CLI
// exit code). The set is closed.
type Kind string

// The kinds of error.
const (
	// Invalid: the request is malformed or breaks a rule of the definition.
	Invalid Kind = "invalid"
	// Unauthenticated: the caller did not prove who they are.
	Unauthenticated Kind = "unauthenticated"
	// Forbidden: the caller may not do this.
	Forbidden Kind = "forbidden"
	// NotFound: the thing named does not exist.
	NotFound Kind = "not-found"
	// Conflict: the request does not fit the current state (already decided, ended...).
	Conflict Kind = "conflict"
	// TooSoon: the request repeats one that may be made only so often (an urge); it may
	// be made again at Error.RetryAt.
	TooSoon Kind = "too-soon"
	// Unavailable: a dependency failed; the request may be retried.
	Unavailable Kind = "unavailable"
	// Internal: a fault of the system; details are logged, never shown.
	Internal Kind = "internal"
)

// Error is a refusal with a kind, a stable code (a slug such as "not-a-handler") and a
// message safe to show to the caller. Field names the offending input, when there is one.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
	// Cause is the underlying error, such as the list of problems a validation found.
	Cause error
	// RetryAt, for TooSoon, is when the request may be made again.
	RetryAt time.Time
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error of the given kind and code with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an Invalid *Error about the input field at path.
func FieldError(code, path, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Field: path, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err holds an *Error of kind k.
func Is(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
