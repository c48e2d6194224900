package eventstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ticketledger/ticketledger/eventstore"
)

// sliceLog is a log held in a slice, read with ReadAll; it counts the reads.
type sliceLog struct {
	eventstore.Store
	events []eventstore.RecordedEvent
	reads  []int // the Count of each read
}

func (l *sliceLog) ReadAll(_ context.Context, o eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	l.reads = append(l.reads, o.Count)
	var out []eventstore.RecordedEvent
	for _, e := range l.events {
		if e.Position.After(o.From) && len(out) < o.Count {
			out = append(out, e)
		}
	}
	return out, nil
}

// TestScanBetween: the log between two positions holds an event the filter selects or
// not; a read that ends before the position, or reaches the limit first, does not pass
// it; pages grow from 16 events to 256.
func TestScanBetween(t *testing.T) {
	ctx := context.Background()
	at := func(n uint64) eventstore.Position { return eventstore.MakePosition(n, n) }
	log := func(n int, selected ...int) *sliceLog {
		l := &sliceLog{}
		for i := 1; i <= n; i++ {
			typ := "other"
			for _, s := range selected {
				if s == i {
					typ = "wanted"
				}
			}
			l.events = append(l.events, eventstore.RecordedEvent{Stream: fmt.Sprintf("s-%d", i), Type: typ, Position: at(uint64(i))})
		}
		return l
	}
	filter := eventstore.Filter{TypePrefixes: []string{"wanted"}}

	for _, tc := range []struct {
		name       string
		log        *sliceLog
		from, to   uint64
		limit      int
		passed     bool
		found      uint64
		readCounts []int
	}{
		{"none selected up to the position", log(10, 8), 2, 7, 100, true, 0, []int{16}},
		{"the position is the last event", log(7), 0, 7, 100, true, 0, []int{16}},
		{"one selected before the position", log(10, 5), 2, 7, 100, false, 5, []int{16}},
		{"one selected at the position", log(10, 7), 2, 7, 100, false, 7, []int{16}},
		{"the log ends before the position", log(5), 0, 7, 100, false, 0, []int{16}},
		{"pages grow", log(400, 390), 0, 395, 1000, false, 390, []int{16, 64, 256, 256}},
		{"the limit comes first", log(400), 0, 395, 100, false, 0, []int{16, 64, 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passed, found, err := eventstore.ScanBetween(ctx, tc.log, filter, at(tc.from), at(tc.to), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := eventstore.Position{}
			if tc.found != 0 {
				want = at(tc.found)
			}
			if passed != tc.passed || found != want {
				t.Fatalf("passed %v found %v, want %v %v", passed, found, tc.passed, want)
			}
			if fmt.Sprint(tc.log.reads) != fmt.Sprint(tc.readCounts) {
				t.Fatalf("reads of %v events, want %v", tc.log.reads, tc.readCounts)
			}
		})
	}
}
