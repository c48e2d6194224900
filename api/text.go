package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ticketledger/ticketledger/domain"
)

// nulEscape is how JSON writes the NUL character, the only way it can be in a JSON text.
var nulEscape = []byte(`\u0000`)

// checkText refuses a request whose path parameters, query values or JSON body hold text
// PostgreSQL cannot store: the NUL character (U+0000), which neither its text nor its
// jsonb columns take, or bytes that are not UTF-8; and path parameters with control
// characters, which no stream or row is named with. Accepted, such text would be written
// to the log for good and then refused by every read model that copies it; refused here,
// it is named. Parameters are 400 invalid-parameter, the body 422 invalid-request.
func checkText(r *http.Request, params map[string]string, body []byte) error {
	var bad []FieldError
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		msg := textProblem(params[k])
		if msg == "" && strings.ContainsFunc(params[k], unicode.IsControl) {
			// Path parameters name streams and rows; the event stores refuse control
			// characters in a stream's name.
			msg = "must not contain control characters"
		}
		if msg != "" {
			bad = append(bad, FieldError{Path: "path." + k, Message: msg})
		}
	}
	query := r.URL.Query()
	names = names[:0]
	for k := range query {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if msg := textProblem(k); msg != "" {
			bad = append(bad, FieldError{Path: "query", Message: "a parameter's name " + msg})
			continue
		}
		for _, v := range query[k] {
			if msg := textProblem(v); msg != "" {
				bad = append(bad, FieldError{Path: "query." + k, Message: msg})
				break
			}
		}
	}
	if len(bad) > 0 {
		return &validationError{status: http.StatusBadRequest, code: codeBadParameter, detail: "a parameter holds text that cannot be stored", errors: bad}
	}
	if bytes.Contains(body, nulEscape) && jsonHasNUL(body) {
		return &validationError{status: http.StatusUnprocessableEntity, code: codeInvalid, detail: "the body holds text that cannot be stored",
			errors: nulPaths(body)}
	}
	return nil
}

// textProblem says what is wrong with s as stored text, or "".
func textProblem(s string) string {
	if !domain.StorableText(s) {
		return "must be UTF-8 text without the NUL character (U+0000)"
	}
	return ""
}

// jsonHasNUL reports whether the JSON text b holds an escaped NUL in a string. A
// backslash in JSON is only ever in a string, where it escapes the character after it,
// so a `\\u0000` (an escaped backslash, then text) is no NUL.
func jsonHasNUL(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if bytes.HasPrefix(b[i+1:], nulEscape[1:]) {
			return true
		}
		i++
	}
	return false
}

// nulPaths names the members of the JSON body b whose keys or strings hold a NUL.
func nulPaths(b []byte) []FieldError {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return []FieldError{{Path: "body", Message: "must not contain the NUL character (U+0000)"}}
	}
	var out []FieldError
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch x := v.(type) {
		case string:
			if strings.IndexByte(x, 0) >= 0 {
				out = append(out, FieldError{Path: pathOf(path), Message: "must not contain the NUL character (U+0000)"})
			}
		case []any:
			for i, e := range x {
				walk(e, append(path, strconv.Itoa(i)))
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if strings.IndexByte(k, 0) >= 0 {
					out = append(out, FieldError{Path: pathOf(path), Message: "a key must not contain the NUL character (U+0000)"})
					continue
				}
				walk(x[k], append(path, k))
			}
		}
	}
	walk(v, nil)
	return out
}

func pathOf(path []string) string {
	if len(path) == 0 {
		return "body"
	}
	return strings.Join(path, ".")
}
