package esdb_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/storetest"
)

// realURL returns the connection string of a real EventStoreDB from EVENTSTORE_URL, or
// skips tb.
func realURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("EVENTSTORE_URL")
	if url == "" {
		tb.Skip("EVENTSTORE_URL is not set; set it (e.g. esdb://127.0.0.1:2113?tls=false) to run against a real EventStoreDB")
	}
	return url
}

// openStore opens a Store on url and closes it when tb ends.
func openStore(tb testing.TB, url string) *esdb.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdb.Open(ctx, url)
	if err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func opener(url string) storetest.Opener {
	return func(tb testing.TB) eventstore.Store { return openStore(tb, url) }
}

// doubleOpener starts a double of its own for every store: the suite's tests run in
// parallel, and some of them expect their appends to follow each other in the log.
func doubleOpener(tb testing.TB) eventstore.Store {
	srv := esdbtest.Start(tb)
	return openStore(tb, srv.URL())
}

func TestConformance(t *testing.T) {
	t.Run("double", func(t *testing.T) {
		storetest.Run(t, doubleOpener)
	})
	t.Run("real", func(t *testing.T) {
		storetest.Run(t, opener(realURL(t)))
	})
}

func BenchmarkConformance(b *testing.B) {
	b.Run("double", func(b *testing.B) {
		storetest.Bench(b, doubleOpener)
	})
	b.Run("real", func(b *testing.B) {
		storetest.Bench(b, opener(realURL(b)))
	})
}
