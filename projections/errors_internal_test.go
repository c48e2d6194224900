package projections

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "57014"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "23505"}), false},
		{&pgconn.PgError{Code: "P0001"}, false},
		{context.Canceled, true},
		{errors.New("connection reset"), true},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	ae := &ApplyError{Projection: "tickets", Stream: "ticket-1", Version: 2, Type: "ticket.x", Err: errors.New("boom")}
	if !errors.Is(ae, ae.Err) || ae.Error() == "" {
		t.Fatalf("apply error %v", ae)
	}
}
