package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	e := Errorf(Forbidden, "not-a-handler", "%s is not a handler of %s", "eve", "finance")
	if e.Error() != "eve is not a handler of finance" || e.Code != "not-a-handler" {
		t.Fatalf("Errorf: %+v", e)
	}
	wrapped := fmt.Errorf("approve: %w", e)
	if KindOf(wrapped) != Forbidden || !Is(wrapped, Forbidden) || Is(wrapped, Conflict) {
		t.Fatalf("kind of a wrapped error: %s", KindOf(wrapped))
	}
	f := FieldError("too-small", "fields.amount", "must be at least %d", 1)
	if f.Kind != Invalid || f.Error() != "fields.amount: must be at least 1" {
		t.Fatalf("FieldError: %+v %q", f, f.Error())
	}
	if KindOf(errors.New("boom")) != Internal || Is(nil, Internal) {
		t.Fatal("a plain error is internal; nil is no kind")
	}
}
