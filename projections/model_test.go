package projections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/pgstore"
	"github.com/ticketledger/ticketledger/projections"
	"github.com/ticketledger/ticketledger/projections/audit"
)

// principals are everyone who may appear on a workbench in the generated data.
var principals = []string{"cs1", "cs2", "fin1", "fin2", "cash1", "cash2", "tom", "sig", "amy", "ben", "cara", "dan",
	"wang", "li", "boss", "boss2"}

// delegate is the principal's delegate the driver uses, if any.
var delegates = map[string]string{"cs1": "amy", "fin1": "ben", "cash1": "cara"}

// grantDelegations sets up grants: amy for cs1 on refunds, ben for fin1 on everything,
// cara for cash1 (revoked), dan for fin2 on another process only.
func grantDelegations(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	until := time.Now().Add(24 * time.Hour)
	grants := []commands.GrantDelegation{
		{Request: as("cs1"), Principal: "cs1", Delegate: "amy", Until: until, Processes: []string{"refund"}},
		{Request: as("fin1"), Principal: "fin1", Delegate: "ben", Until: until},
		{Request: as("cash1"), Principal: "cash1", Delegate: "cara", Until: until, GrantID: "cara-grant"},
		{Request: as("fin2"), Principal: "fin2", Delegate: "dan", Until: until, Processes: []string{"other"}},
	}
	for _, g := range grants {
		if _, err := e.svc.GrantDelegation(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.RevokeDelegation(ctx, commands.RevokeDelegation{Request: as("cash1"), Principal: "cash1", GrantID: "cara-grant"}); err != nil {
		t.Fatal(err)
	}
}

// drive submits n tickets and moves each through random decisions, in parallel.
func drive(t *testing.T, e *env, n int, seed uint64) []string {
	t.Helper()
	ids, err := driveKeys(e, "order", n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// driveKeys submits n tickets with business keys prefix-0... and moves each through
// random decisions, with four workers.
func driveKeys(e *env, prefix string, n int, seed uint64) ([]string, error) {
	ids := make([]string, n)
	var wg sync.WaitGroup
	const workers = 4
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < n; i += workers {
				id, err := driveOne(e, rng, fmt.Sprintf("%s-%d", prefix, i))
				if err != nil {
					errs <- fmt.Errorf("ticket %d: %w", i, err)
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	return ids, <-errs
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func driveOne(e *env, rng *rand.Rand, key string) (string, error) {
	ctx := context.Background()
	heirs := 0
	submitter := pick(rng, []string{"wang", "li"})
	res, err := e.svc.SubmitTicket(ctx, commands.SubmitTicket{
		Request: commands.Request{CommandID: uuid.New(), Caller: shop}, Process: "refund", BusinessKey: key,
		Submitter: ticket.Submitter{ID: submitter}, Title: "Refund for " + key,
		Fields: refundFields(pick(rng, []string{"50.00", "150.00", "300.00", "1200.00"}), pick(rng, []string{"original", "alipay"})),
		CC:     pick(rng, [][]string{nil, {"boss"}}),
	})
	if err != nil {
		return "", err
	}
	id := res.State.ID
	for step := 0; step < 16; step++ {
		l, err := e.svc.Ticket(ctx, id)
		if err != nil {
			return id, err
		}
		st := l.State
		if st.Status.Final() {
			if rng.Float64() < 0.4 {
				_, err = e.svc.ReportExecution(ctx, commands.ReportExecution{Request: commands.Request{Caller: shop}, TicketID: id,
					Status: pick(rng, []string{ticket.ExecutionSucceeded, ticket.ExecutionFailed}), Detail: "done"})
			}
			return id, tolerate(err)
		}
		if st.Status == ticket.StatusReturned {
			if rng.Float64() < 0.75 {
				_, err = e.svc.ResubmitTicket(ctx, commands.ResubmitTicket{Request: as(submitter), TicketID: id,
					Changes: json.RawMessage(`{"amount":"` + pick(rng, []string{"60.00", "250.00"}) + `"}`), Comment: "fixed"})
			} else {
				_, err = e.svc.WithdrawTicket(ctx, commands.WithdrawTicket{Request: as(submitter), TicketID: id, Reason: "no longer needed"})
			}
			if err := tolerate(err); err != nil {
				return id, err
			}
			continue
		}
		pending := st.PendingHandlers()
		r := rng.Float64()
		switch {
		case r < 0.03:
			_, err = e.svc.WithdrawTicket(ctx, commands.WithdrawTicket{Request: as(submitter), TicketID: id, Reason: "changed my mind"})
		case r < 0.06:
			_, err = e.svc.CommentTicket(ctx, commands.CommentTicket{Request: as(submitter), TicketID: id, Text: "any news?"})
		case r < 0.09:
			_, err = e.svc.UrgeTicket(ctx, commands.UrgeTicket{Request: as(submitter), TicketID: id, Comment: "please"})
		case r < 0.11:
			_, err = e.svc.CCTicket(ctx, commands.CCTicket{Request: as(submitter), TicketID: id, Users: []string{"boss2"}})
		case r < 0.12:
			// An admin hands over the work of one of the route's handlers (离职交接).
			var handlers []string
			for _, n := range st.Route {
				handlers = append(handlers, n.Handlers...)
			}
			if len(handlers) == 0 {
				continue
			}
			heirs++
			_, err = e.svc.HandoverTicket(ctx, commands.HandoverTicket{Request: commands.Request{CommandID: uuid.New(),
				Caller: commands.Caller{ID: "root", Roles: []string{commands.RoleAdmin}}}, TicketID: id,
				From: pick(rng, handlers), To: fmt.Sprintf("heir-%d", heirs), Comment: "left the company"})
		case len(pending) == 0:
			continue
		default:
			h := pick(rng, pending)
			req := as(h)
			if d, ok := delegates[h]; ok && rng.Float64() < 0.5 {
				req = asDelegate(d, h)
			}
			switch {
			case r < 0.15 && !slices.Contains(pending, "tom"):
				_, err = e.svc.TransferTask(ctx, commands.TransferTask{Request: req, TicketID: id, To: "tom", Comment: "over to you"})
			case r < 0.17 && h != "sig":
				_, err = e.svc.AddSigner(ctx, commands.AddSigner{Request: req, TicketID: id, Signer: "sig",
					Where: pick(rng, []string{ticket.Before, ticket.After})})
			case r < 0.24:
				_, err = e.svc.ReturnTicket(ctx, commands.ReturnTicket{Request: req, TicketID: id, Comment: "incomplete"})
			case r < 0.30:
				_, err = e.svc.RejectTask(ctx, commands.RejectTask{Request: req, TicketID: id, Comment: "no"})
			default:
				var changes json.RawMessage
				if node, _ := st.CurrentNode(); rng.Float64() < 0.3 {
					switch node.Key {
					case "business":
						changes = json.RawMessage(pick(rng, []string{`{"reason":"checked: broken on arrival"}`, `{"reason":null}`}))
					case "finance":
						changes = json.RawMessage(`{"amount":"` + pick(rng, []string{"199.00", "420.00"}) + `"}`)
					}
				}
				_, err = e.svc.ApproveTask(ctx, commands.ApproveTask{Request: req, TicketID: id, Comment: "ok", Changes: changes})
			}
		}
		if err := tolerate(err); err != nil {
			return id, err
		}
	}
	return id, nil
}

// tolerate lets through the refusals random decisions may earn; the revoked delegate's
// attempts are refused as forbidden, an urge within the interval as too soon.
func tolerate(err error) error {
	if err == nil || domain.Is(err, domain.Conflict) || domain.Is(err, domain.Forbidden) || domain.Is(err, domain.TooSoon) {
		return nil
	}
	return err
}

// folded is a ticket as the log says it is.
type folded struct {
	state  ticket.State
	events int
	tasks  map[string]ticket.Task
	nodes  map[string]string
}

func fold(t *testing.T, store eventstore.Store, id string) folded {
	t.Helper()
	evs, err := store.ReadStream(context.Background(), ticket.Stream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := folded{state: ticket.Initial(), events: len(evs), tasks: map[string]ticket.Task{}, nodes: map[string]string{}}
	for _, re := range evs {
		e, err := ticket.Decode(re.Type, re.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case *ticket.NodeActivated:
			for _, task := range e.Tasks {
				f.nodes[task.ID] = e.Node
			}
		case *ticket.TaskTransfer:
			f.nodes[e.NewTask] = e.Node
		}
		f.state = ticket.Evolve(f.state, e)
		for _, task := range f.state.Tasks {
			f.tasks[task.ID] = task
		}
	}
	return f
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		return []string{}
	}
	return out
}

type taskRow struct {
	node, assignee, status, decidedBy, onBehalfOf string
}

// checkAgainstLog compares every read model with a fold of the log.
func checkAgainstLog(t *testing.T, e *env, ids []string) {
	t.Helper()
	ctx := context.Background()
	tickets := projections.NewTickets(e.pool)
	timeline := projections.NewTimeline(audit.New(e.store))
	wb := projections.NewWorkbench(e.pool)
	now := time.Now()

	grants := map[string]delegation.State{}
	for p := range delegates {
		grants[p], _ = e.svc.Delegations(ctx, p)
	}
	grants["fin2"], _ = e.svc.Delegations(ctx, "fin2")
	mayActFor := func(p, assignee string) bool {
		if p == assignee {
			return true
		}
		_, ok := grants[assignee].Active(p, "refund", now)
		return ok
	}
	type key struct{ ticket, task string }
	wantPending := map[string]map[key]bool{}
	wantDone := map[string]map[key]bool{}
	wantSubmitted := map[string]map[string]bool{}
	wantCC := map[string]map[string]bool{}
	add := func(m map[string]map[key]bool, p string, k key) {
		if m[p] == nil {
			m[p] = map[key]bool{}
		}
		m[p][k] = true
	}
	addTicket := func(m map[string]map[string]bool, p, id string) {
		if m[p] == nil {
			m[p] = map[string]bool{}
		}
		m[p][id] = true
	}
	decidedByNode := map[string]int64{}
	decidedByApprover := map[string]int64{}

	for _, id := range ids {
		f := fold(t, e.store, id)
		s := f.state
		k, err := tickets.Get(ctx, id)
		if err != nil {
			t.Fatalf("ticket %s: %v", id, err)
		}
		current := ""
		if n, ok := s.CurrentNode(); ok {
			current = n.Key
		}
		if k.Status != s.Status || k.CurrentNode != current || k.Urges != s.Urges || int(k.Version) != f.events ||
			!slices.Equal(handlerNames(k.Handlers), s.PendingHandlers()) || !sameTime(k.FinalAt, s.FinalAt) ||
			!slices.Equal(sortedCopy(k.CC), sortedCopy(s.CC)) || !slices.Equal(k.Watchers, s.Watchers) ||
			k.ProcessKey != s.ProcessKey || k.BusinessKey != s.BusinessKey || k.Submitter != s.Submitter || k.Title != s.Title {
			t.Fatalf("ticket %s:\nread model %+v\nlog        status %s node %q urges %d version %d handlers %v cc %v final %s",
				id, k, s.Status, current, s.Urges, f.events, s.PendingHandlers(), s.CC, s.FinalAt)
		}
		if current != "" && !sameTime(k.DueAt, s.DueAt) {
			t.Fatalf("ticket %s: due %s, log %s", id, k.DueAt, s.DueAt)
		}
		if n := len(s.Executions); n > 0 {
			last := s.Executions[n-1]
			if k.Execution == nil || k.Execution.Status != last.Status || k.Execution.ReportedBy != last.ReportedBy {
				t.Fatalf("ticket %s: execution %+v, log %+v", id, k.Execution, last)
			}
		} else if k.Execution != nil {
			t.Fatalf("ticket %s: execution %+v, none in the log", id, k.Execution)
		}
		seen, err := tickets.AsSeenBy(ctx, id, projections.Viewer{ID: "auditor", Privileged: true})
		if err != nil || !sameJSON(seen.Fields, s.Fields) {
			t.Fatalf("ticket %s: fields %s, log %s (%v)", id, mustJSON(seen.Fields), mustJSON(s.Fields), err)
		}

		rows, err := e.pool.Query(ctx, `SELECT task_id, node, assignee, status, coalesce(decided_by, ''), coalesce(on_behalf_of, '')
			FROM rm_tickets.tasks WHERE ticket_id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]taskRow{}
		for rows.Next() {
			var taskID string
			var r taskRow
			if err := rows.Scan(&taskID, &r.node, &r.assignee, &r.status, &r.decidedBy, &r.onBehalfOf); err != nil {
				t.Fatal(err)
			}
			got[taskID] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[string]taskRow{}
		for taskID, task := range f.tasks {
			want[taskID] = taskRow{f.nodes[taskID], task.Assignee, string(task.Status), task.DecidedBy, task.OnBehalfOf}
			kk := key{id, taskID}
			switch task.Status {
			case ticket.TaskPending:
				for _, p := range principals {
					if mayActFor(p, task.Assignee) {
						add(wantPending, p, kk)
					}
				}
			case ticket.TaskApproved, ticket.TaskRejected, ticket.TaskReturned, ticket.TaskTransferred:
				add(wantDone, task.DecidedBy, kk)
				if task.OnBehalfOf != "" {
					add(wantDone, task.OnBehalfOf, kk)
				}
				if task.Status != ticket.TaskTransferred {
					decidedByNode[f.nodes[taskID]]++
					decidedByApprover[task.DecidedBy]++
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ticket %s: tasks\nread model %+v\nlog        %+v", id, got, want)
		}
		addTicket(wantSubmitted, s.Submitter, id)
		for _, p := range s.CC {
			addTicket(wantCC, p, id)
		}

		entries, err := timeline.Of(ctx, id)
		if err != nil || len(entries) != f.events {
			t.Fatalf("ticket %s: %d timeline entries, %d events (%v)", id, len(entries), f.events, err)
		}
		for i, en := range entries {
			if en.Version != uint64(i+1) {
				t.Fatalf("ticket %s: entry %d has version %d", id, i, en.Version)
			}
		}
	}

	for _, p := range principals {
		for _, list := range []projections.List{projections.Pending, projections.Done, projections.Submitted, projections.CCd} {
			got := map[key]bool{}
			var prev *projections.WorkItem
			q := projections.WorkbenchQuery{Principal: p, List: list, Limit: 37, At: now}
			for {
				page, err := wb.List(ctx, q)
				if err != nil {
					t.Fatalf("%s %s: %v", p, list, err)
				}
				for i := range page.Items {
					it := page.Items[i]
					kk := key{it.TicketID, it.TaskID}
					if got[kk] {
						t.Fatalf("%s %s: %v listed twice", p, list, kk)
					}
					got[kk] = true
					if prev != nil && list == projections.Pending && it.PendingSince.Before(prev.PendingSince) {
						t.Fatalf("%s pending: out of order", p)
					}
					if list == projections.Pending && it.AsDelegate != (it.Assignee != p) {
						t.Fatalf("%s pending: %+v", p, it)
					}
					prev = &it
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			var want map[key]bool
			switch list {
			case projections.Pending:
				want = wantPending[p]
			case projections.Done:
				want = wantDone[p]
			default:
				src := wantSubmitted
				if list == projections.CCd {
					src = wantCC
				}
				want = map[key]bool{}
				for id := range src[p] {
					want[key{id, ""}] = true
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d items, want %d", p, list, len(got), len(want))
			}
			for kk := range want {
				if !got[kk] {
					t.Fatalf("%s %s: %v missing", p, list, kk)
				}
			}
		}
		c, err := wb.Counts(ctx, projections.WorkbenchQuery{Principal: p, At: now})
		if err != nil {
			t.Fatal(err)
		}
		if c.Pending != int64(len(wantPending[p])) || c.Done != int64(len(wantDone[p])) ||
			c.Submitted != int64(len(wantSubmitted[p])) || c.CC != int64(len(wantCC[p])) {
			t.Fatalf("%s: counts %+v", p, c)
		}
	}

	stats := projections.NewStatistics(e.pool)
	byNode, err := stats.ByNode(ctx, projections.StatsQuery{Process: "refund"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range byNode {
		if h.Count != decidedByNode[h.Key] || (h.Count > 0 && (h.P50 > h.P90 || h.Mean < 0)) {
			t.Fatalf("statistics of node %s: %+v, %d decisions in the log", h.Key, h, decidedByNode[h.Key])
		}
		delete(decidedByNode, h.Key)
	}
	if len(decidedByNode) != 0 {
		t.Fatalf("nodes missing from the statistics: %v", decidedByNode)
	}
	byApprover, err := stats.ByApprover(ctx, projections.StatsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range byApprover {
		if h.Count != decidedByApprover[h.Key] || h.SLAHits+h.SLAMisses != h.Count {
			t.Fatalf("statistics of approver %s: %+v, %d decisions in the log", h.Key, h, decidedByApprover[h.Key])
		}
		delete(decidedByApprover, h.Key)
	}
	if len(decidedByApprover) != 0 {
		t.Fatalf("approvers missing from the statistics: %v", decidedByApprover)
	}

	dg := projections.NewDelegations(e.pool)
	for p, st := range grants {
		got, err := dg.Of(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(st.Grants) {
			t.Fatalf("grants of %s: %+v, log %+v", p, got, st.Grants)
		}
		for i, g := range got {
			w := st.Grants[i]
			if g.ID != w.ID || g.Delegate != w.Delegate || !slices.Equal(g.Processes, w.Processes) ||
				!sameTime(g.RevokedAt, w.RevokedAt) || !sameTime(g.Until, w.Until) {
				t.Fatalf("grant of %s: %+v, log %+v", p, g, w)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(bytes.TrimSpace(b))
}

// dump returns every row of every table of a schema, as text, sorted.
func dump(t *testing.T, e *env, schema string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	out := map[string][]string{}
	for _, tbl := range tables {
		rs, err := e.pool.Query(ctx, `SELECT x::text FROM `+schema+`.`+tbl+` x ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var s string
			_ = rs.Scan(&s)
			out[tbl] = append(out[tbl], s)
		}
	}
	return out
}

func TestReadModelsAgreeWithTheLog(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		n := 1000
		if _, ok := e.store.(*pgstore.Store); !ok {
			// The EventStoreDB protocol double slows down with the size of its log under
			// the race detector; the thousand tickets run on pgstore.
			n = 250
		}
		if testing.Short() {
			n /= 8
		}
		e.start(e.config(), e.standard()...)
		grantDelegations(t, e)
		start := time.Now()
		ids := drive(t, e, n, 7)
		t.Logf("drove %d tickets in %s", n, time.Since(start).Round(time.Millisecond))
		types := map[string]int{}
		evs := e.log()
		for _, ev := range evs {
			types[ev.Type]++
		}
		t.Logf("%d events: %v", len(evs), types)
		e.sync(projections.TicketsName, projections.DelegationsName, journalName)
		checkAgainstLog(t, e, ids)

		for _, name := range []string{projections.TicketsName, journalName, projections.DelegationsName} {
			before := dump(t, e, projections.Schema(name))
			var reports []projections.Progress
			start := time.Now()
			if err := e.runner.Rebuild(context.Background(), name, func(p projections.Progress) { reports = append(reports, p) }); err != nil {
				t.Fatal(err)
			}
			last := reports[len(reports)-1]
			t.Logf("rebuilt %s: %d events applied, %d/%d log events in %s (%.0f events/s)", name, last.Applied, last.Done, last.Total,
				time.Since(start).Round(time.Millisecond), last.Rate)
			if reports[0].Phase != projections.Replaying || last.Phase != projections.Finished || last.Done != last.Total || last.Total <= 0 {
				t.Fatalf("progress %+v", reports)
			}
			after := dump(t, e, projections.Schema(name))
			if !reflect.DeepEqual(before, after) {
				for tbl := range before {
					if !reflect.DeepEqual(before[tbl], after[tbl]) {
						t.Fatalf("%s.%s differs after the rebuild: %d rows before, %d after", name, tbl, len(before[tbl]), len(after[tbl]))
					}
				}
				t.Fatalf("%s differs after the rebuild", name)
			}
		}
		if st := e.status(projections.TicketsName); !st.Healthy || st.Checkpoint != e.head() {
			t.Fatalf("after the rebuilds: %+v", st)
		}
	})
}
