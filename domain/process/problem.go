package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every Problems value: the input was understood
// but broke a rule of the definition format or of a process's field schema.
var ErrInvalid = errors.New("invalid")

// Problem is one rule broken by a definition document, a field submission or a routing
// input. Path names the offending element in the document's own terms, e.g.
// "nodes[2].handlers[0].role", "fields.amount.max" or "fields.items[3].price"; it is empty
// when the problem concerns the whole input.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Unroutable marks a problem of the organisation rather than of the input: an
	// applicable node whose handlers resolve to nobody (Route).
	Unroutable bool `json:"-"`
}

// ResolvesToNobody starts the message of an Unroutable problem; the rest of the message
// names the node and its handler sources.
const ResolvesToNobody = "resolve to nobody: "

// Unroutable reports whether err is a Problems error all of whose problems are
// Unroutable: the input is valid, but the directory holds nobody to handle a node.
func Unroutable(err error) bool {
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		if !p.Unroutable {
			return false
		}
	}
	return true
}

// Error returns "path: message", or the message alone when Path is empty.
func (p Problem) Error() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found in one input, in document order. A non-empty Problems is
// an error that matches ErrInvalid; errors.As also finds each Problem through Unwrap.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (ps Problems) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns each Problem as an error.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// AsProblems returns the problems held by err: the list itself when err is or wraps a
// Problems, nil otherwise.
func AsProblems(err error) Problems {
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	return nil
}

// MaxProblems is the most problems one error lists; a last problem then says how many
// more were found.
const MaxProblems = 100

// report collects problems during one decoding or validation pass.
type report struct {
	problems Problems
	dropped  int
}

func (r *report) add(path, format string, args ...any) {
	r.addProblem(Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (r *report) addProblem(p Problem) {
	if len(r.problems) >= MaxProblems {
		r.dropped++
		return
	}
	r.problems = append(r.problems, p)
}

func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	if r.dropped > 0 {
		return append(r.problems[:len(r.problems):len(r.problems)], Problem{Message: fmt.Sprintf("and %d more problems", r.dropped)})
	}
	return r.problems
}

func (r *report) mark() int { return len(r.problems) + r.dropped }

func (r *report) since(mark int) bool { return len(r.problems)+r.dropped > mark }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
