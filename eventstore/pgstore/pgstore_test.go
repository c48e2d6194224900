package pgstore

import (
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/storetest"
)

// openFresh opens a Store with the default configuration on a database of its own.
func openFresh(tb testing.TB) eventstore.Store {
	s, _ := openStore(tb, Config{})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openFresh)
}

// BenchmarkConformance runs the suite's benchmarks on a store with the pool size of the
// raw-INSERT baseline (benchConns), so that their figures compare with BenchmarkRawInsert.
func BenchmarkConformance(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) eventstore.Store {
		s, _ := openStore(tb, Config{MaxConns: benchConns})
		return s
	})
}
