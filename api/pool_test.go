package api_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

func pgtestPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
