package projections_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/projections"
)

// clock is a settable clock for the command service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestStatisticsAndWorkbenchFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := time.Now().Add(-100 * time.Hour).UTC().Truncate(time.Second)
	clk := &clock{t: t0}
	e.svc = commands.New(e.store, definitions{}, commands.WithClock(clk.now))
	e.start(e.config(), e.standard()...)
	ctx := context.Background()
	h := time.Hour

	a := e.submit("order-a", "500.00", "original").State.ID
	b := e.submit("order-b", "50.00", "original").State.ID
	clk.set(t0.Add(1 * h))
	e.approve(a, as("cs1"))
	clk.set(t0.Add(2 * h))
	e.approve(a, as("fin1"))
	clk.set(t0.Add(10 * h))
	e.approve(a, as("fin2"))
	clk.set(t0.Add(11 * h))
	e.approve(a, as("cash1"))
	clk.set(t0.Add(12 * h))
	e.approve(a, as("cash2"))
	e.sync(projections.TicketsName)

	stats := projections.NewStatistics(e.pool)
	byNode, err := stats.ByNode(ctx, projections.StatsQuery{Process: "refund", At: t0.Add(9 * h)})
	if err != nil {
		t.Fatal(err)
	}
	want := []projections.HandlingStats{
		{Key: "business", Count: 1, Mean: h, P50: h, P90: h, SLAHits: 1, SLAMisses: 1},
		{Key: "cashier", Count: 2, Mean: h, P50: h, P90: h, SLAHits: 1},
		{Key: "finance", Count: 2, Mean: 5 * h, P50: 5 * h, P90: 8*h + 12*time.Minute, SLAMisses: 1},
	}
	if len(byNode) != len(want) {
		t.Fatalf("by node: %+v", byNode)
	}
	for i := range want {
		if byNode[i] != want[i] {
			t.Fatalf("by node %d: %+v, want %+v", i, byNode[i], want[i])
		}
	}
	byApprover, err := stats.ByApprover(ctx, projections.StatsQuery{From: t0, To: t0.Add(24 * h)})
	if err != nil {
		t.Fatal(err)
	}
	wantApprover := map[string]projections.HandlingStats{
		"cs1":   {Key: "cs1", Count: 1, Mean: h, P50: h, P90: h, SLAHits: 1},
		"fin1":  {Key: "fin1", Count: 1, Mean: h, P50: h, P90: h, SLAHits: 1},
		"fin2":  {Key: "fin2", Count: 1, Mean: 9 * h, P50: 9 * h, P90: 9 * h, SLAMisses: 1},
		"cash1": {Key: "cash1", Count: 1, Mean: h, P50: h, P90: h, SLAHits: 1},
		"cash2": {Key: "cash2", Count: 1, Mean: h, P50: h, P90: h, SLAHits: 1},
	}
	if len(byApprover) != len(wantApprover) {
		t.Fatalf("by approver: %+v", byApprover)
	}
	for _, got := range byApprover {
		if got != wantApprover[got.Key] {
			t.Fatalf("by approver: %+v, want %+v", got, wantApprover[got.Key])
		}
	}
	if none, err := stats.ByApprover(ctx, projections.StatsQuery{From: t0.Add(50 * h)}); err != nil || len(none) != 0 {
		t.Fatalf("statistics of a later period: %+v, %v", none, err)
	}

	wb := projections.NewWorkbench(e.pool)
	list := func(q projections.WorkbenchQuery) []string {
		t.Helper()
		page, err := wb.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range page.Items {
			out = append(out, it.TicketID)
		}
		return out
	}
	at := t0.Add(12 * h)
	if got := list(projections.WorkbenchQuery{Principal: "cs2", List: projections.Pending, At: at}); len(got) != 1 || got[0] != b {
		t.Fatalf("cs2's pending: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "cs2", List: projections.Pending, Process: "other", At: at}); len(got) != 0 {
		t.Fatalf("another process: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "cs2", List: projections.Pending, DueBefore: t0.Add(7 * h), At: at}); len(got) != 0 {
		t.Fatalf("due before the due time: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "cs2", List: projections.Pending, DueBefore: t0.Add(9 * h), At: at}); len(got) != 1 {
		t.Fatalf("due after the due time: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "wang", List: projections.Submitted, Text: "ORDER-A"}); len(got) != 1 || got[0] != a {
		t.Fatalf("text on the business key: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "wang", List: projections.Submitted, Text: "refund"}); len(got) != 2 || got[0] != b {
		t.Fatalf("text on the title, newest first: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "wang", List: projections.Submitted, Status: "approved"}); len(got) != 1 || got[0] != a {
		t.Fatalf("submitted and approved: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "fin2", List: projections.Done, Status: "approved"}); len(got) != 1 || got[0] != a {
		t.Fatalf("fin2's approvals: %v", got)
	}
	if got := list(projections.WorkbenchQuery{Principal: "boss", List: projections.CCd, Limit: 1}); len(got) != 1 {
		t.Fatalf("boss's first CC: %v", got)
	}
	page, err := wb.List(ctx, projections.WorkbenchQuery{Principal: "wang", List: projections.Submitted, Limit: 1})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	if _, err := wb.List(ctx, projections.WorkbenchQuery{Principal: "wang", List: projections.CCd, Cursor: page.Next}); !domain.Is(err, domain.Invalid) {
		t.Fatalf("a cursor of another list: %v", err)
	}
	if _, err := wb.List(ctx, projections.WorkbenchQuery{Principal: "wang", List: projections.Submitted, Cursor: "%%"}); !domain.Is(err, domain.Invalid) {
		t.Fatalf("a malformed cursor: %v", err)
	}
	if _, err := wb.List(ctx, projections.WorkbenchQuery{Principal: "wang", List: "mine"}); !domain.Is(err, domain.Invalid) {
		t.Fatalf("an unknown list: %v", err)
	}
	if _, err := wb.List(ctx, projections.WorkbenchQuery{List: projections.Pending}); !domain.Is(err, domain.Invalid) {
		t.Fatalf("no principal: %v", err)
	}
	if _, err := wb.Counts(ctx, projections.WorkbenchQuery{}); !domain.Is(err, domain.Invalid) {
		t.Fatalf("counts without a principal: %v", err)
	}
	c, err := wb.Counts(ctx, projections.WorkbenchQuery{Principal: "wang", Text: "order-b"})
	if err != nil || c != (projections.Counts{Submitted: 1}) {
		t.Fatalf("wang's counts: %+v, %v", c, err)
	}
}
