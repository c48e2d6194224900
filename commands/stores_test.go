package commands_test

import (
	"context"
	"os"
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

// storeKinds opens each event store the command handlers must work on.
var storeKinds = []struct {
	name string
	open func(t *testing.T) eventstore.Store
}{
	{"pgstore", func(t *testing.T) eventstore.Store {
		s, err := pgstore.Open(context.Background(), pgtest.NewDatabase(t), pgstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"esdb-double", func(t *testing.T) eventstore.Store {
		return openESDB(t, esdbtest.Start(t).URL())
	}},
	{"esdb-real", func(t *testing.T) eventstore.Store {
		url := os.Getenv("EVENTSTORE_URL")
		if url == "" {
			t.Skip("EVENTSTORE_URL is not set")
		}
		return openESDB(t, url)
	}},
}

func openESDB(t *testing.T, url string) eventstore.Store {
	s, err := esdb.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs fn once per event store, in parallel subtests.
func eachStore(t *testing.T, fn func(t *testing.T, store eventstore.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			fn(t, k.open(t))
		})
	}
}
