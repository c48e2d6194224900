package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"go.yaml.in/yaml/v4"
)

func jsonValid(b []byte) bool { return json.Valid(b) }

// yamlWellFormed parses b as YAML into its node tree, which keeps aliases unexpanded, and
// returns the parser's error.
func yamlWellFormed(b []byte) error {
	var n yaml.Node
	return yaml.Unmarshal(b, &n)
}

// decode reads the request's validated JSON body into v; an absent body leaves v as it is.
func decode(r *http.Request, v any) error {
	body := bodyOf(r.Context())
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &validationError{status: http.StatusUnprocessableEntity, code: codeInvalid, detail: "the body does not match the API's schema",
			errors: []FieldError{{Path: "body", Message: err.Error()}}}
	}
	return nil
}
