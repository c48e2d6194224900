package projections_test

import (
	"context"
	"testing"

	"github.com/ticketledger/ticketledger/projections"
)

func TestRebuildWhileLive(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		n := 80
		if testing.Short() {
			n = 24
		}
		e.start(e.config(), e.standard()...)
		grantDelegations(t, e)
		ids := drive(t, e, n, 11)
		e.sync(projections.TicketsName)

		type result struct {
			ids []string
			err error
		}
		done := make(chan result, 1)
		go func() {
			ids, err := driveKeys(e, "late", n, 12)
			done <- result{ids, err}
		}()
		var reports []projections.Progress
		for _, name := range []string{projections.TicketsName, journalName} {
			if err := e.runner.Rebuild(context.Background(), name, func(p projections.Progress) { reports = append(reports, p) }); err != nil {
				t.Fatal(err)
			}
		}
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		e.sync(projections.TicketsName, projections.DelegationsName, journalName)
		checkAgainstLog(t, e, append(ids, res.ids...))
		var swapped bool
		for _, p := range reports {
			swapped = swapped || p.Phase == projections.Swapping
		}
		if !swapped || reports[len(reports)-1].Phase != projections.Finished {
			t.Fatalf("progress %+v", reports)
		}
		if st := e.status(projections.TicketsName); !st.Healthy || !st.Running {
			t.Fatalf("after the rebuild: %+v", st)
		}
	})
}
