package api

import (
	"bytes"
	"encoding/json"
	"net/http"
)

func jsonValid(b []byte) bool { return json.Valid(b) }

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
