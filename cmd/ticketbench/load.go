package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
)

// Command kinds, as the summary reports them.
const (
	kindSubmit = iota
	kindApprove
	kinds
)

var kindNames = [kinds]string{"submit", "approve"}

// ticketResult is ticketd's answer to a ticket command.
type ticketResult struct {
	TicketID    string `json:"ticket_id"`
	Status      string `json:"status"`
	Position    string `json:"position"`
	CurrentNode string `json:"current_node"`
}

// init has github.com/goccy/go-json compile the code of the types the load's workers
// encode and decode together, before they start: the library publishes a type's compiled
// code on first use with unsynchronised writes, which a concurrent first use may read half
// written (goccy/go-json#495).
func init() {
	if _, err := gojson.Marshal(submission{}); err != nil {
		panic("ticketbench: compile the submission encoder: " + err.Error())
	}
	if err := gojson.Unmarshal([]byte(`{}`), &ticketResult{}); err != nil {
		panic("ticketbench: compile the answer decoder: " + err.Error())
	}
}

// sample is one successful command as its client measured it.
type sample struct {
	// started is when the command was sent, from the load's start; latency, how long
	// its answer took.
	started, latency time.Duration
	// served is the server's own time for the command (Server-Timing "app"), or -1
	// where the answer did not say; stored, the part of it spent appending to the event
	// store ("store"), or -1 where the answer did not say; paced, the part the answer
	// waited for a read model ("paced").
	served, stored, paced time.Duration
}

// workerStats is what one client measured; only its worker writes it.
type workerStats struct {
	samples [kinds][]sample
	failed  [kinds]int
	errs    []string
}

// ok returns the number of successful commands.
func (st *workerStats) ok() int { return len(st.samples[kindSubmit]) + len(st.samples[kindApprove]) }

// durations returns, for every successful command of the kinds given (every kind when
// none is), the duration pick takes from its sample.
func (st *workerStats) durations(pick func(sample) time.Duration, ks ...int) []time.Duration {
	if len(ks) == 0 {
		ks = []int{kindSubmit, kindApprove}
	}
	var out []time.Duration
	for _, k := range ks {
		for _, s := range st.samples[k] {
			out = append(out, pick(s))
		}
	}
	return out
}

func latencyOf(s sample) time.Duration { return s.latency }

// load drives the tickets. Its counters are read by the progress reporter while the
// workers run.
type load struct {
	cfg    config
	c      *client
	actors *actors
	runID  string
	began  time.Time // the load's start
	stop   time.Time // no command starts after it

	next        atomic.Int64 // the last ticket number taken
	commands    atomic.Int64 // commands answered with a success
	failures    atomic.Int64 // commands that failed
	done        atomic.Int64 // tickets approved at every node
	broken      atomic.Int64 // tickets abandoned after a failed command
	inFlight    atomic.Int64
	commandSeq  atomic.Int64 // numbers every command, for sampling
	lagMu       sync.Mutex
	lags        []time.Duration
	lagFailures int
	lagErrs     []string
	probes      sync.WaitGroup
}

// loadResult is the outcome of the load phase.
type loadResult struct {
	elapsed     time.Duration
	stats       workerStats // merged
	done        int64
	broken      int64
	unfinished  int64 // tickets cut short by --duration
	lags        []time.Duration
	lagFailures int
	lagErrs     []string
	interrupted bool
}

// drive runs the load phase: cfg.concurrency clients, each taking the next ticket and
// submitting it, then approving it at each node, until every ticket is taken or the
// duration has passed; progress goes to progress every cfg.progress.
func (l *load) drive(ctx context.Context, progress io.Writer) loadResult {
	wires := l.dial(ctx)
	began := time.Now()
	l.began, l.stop = began, began.Add(l.cfg.duration)
	stats := make([]workerStats, l.cfg.concurrency)
	var wg sync.WaitGroup
	for w := range stats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wires[w] != nil {
				defer wires[w].close()
			}
			l.worker(ctx, wires[w], &stats[w])
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(l.cfg.progress)
	last, lastAt := int64(0), began
	report := func(now time.Time) {
		n := l.commands.Load()
		fmt.Fprintf(progress, "ticketbench: %5.1fs  tickets %d/%d done, %d in flight  commands %d ok, %d failed  %.0f commands/s\n",
			now.Sub(began).Seconds(), l.done.Load(), l.cfg.tickets, l.inFlight.Load(), n, l.failures.Load(),
			float64(n-last)/now.Sub(lastAt).Seconds())
		last, lastAt = n, now
	}
wait:
	for {
		select {
		case <-finished:
			break wait
		case now := <-tick.C:
			report(now)
		}
	}
	tick.Stop()
	// The last line covers the end of the load, however short it was.
	report(time.Now())
	elapsed := time.Since(began)
	l.probes.Wait()

	res := loadResult{elapsed: elapsed, done: l.done.Load(), broken: l.broken.Load(), interrupted: ctx.Err() != nil}
	res.unfinished = min(l.next.Load(), int64(l.cfg.tickets)) - res.done - res.broken
	for _, s := range stats {
		for k := range kinds {
			res.stats.samples[k] = append(res.stats.samples[k], s.samples[k]...)
			res.stats.failed[k] += s.failed[k]
		}
		for _, e := range s.errs {
			if len(res.stats.errs) < 5 {
				res.stats.errs = append(res.stats.errs, e)
			}
		}
	}
	l.lagMu.Lock()
	res.lags, res.lagFailures, res.lagErrs = l.lags, l.lagFailures, l.lagErrs
	l.lagMu.Unlock()
	return res
}

// dial returns each worker's wire (nil ones when the server is not plain http), with its
// connection open: the clock starts once they are, as the baseline's starts once its
// connections are open, so that neither counts the connections' setup. A connection that
// fails to open here is dialled again by the worker's first command, which then reports
// the failure.
func (l *load) dial(ctx context.Context) []*wire {
	wires := make([]*wire, l.cfg.concurrency)
	var wg sync.WaitGroup
	for i := range wires {
		if wires[i] = newWire(l.cfg.server, l.cfg.timeout); wires[i] != nil {
			wg.Go(func() { _ = wires[i].dial(ctx) })
		}
	}
	wg.Wait()
	return wires
}

func (l *load) worker(ctx context.Context, w *wire, st *workerStats) {
	for ctx.Err() == nil && time.Now().Before(l.stop) {
		i := l.next.Add(1)
		if i > int64(l.cfg.tickets) {
			return
		}
		l.inFlight.Add(1)
		l.ticket(ctx, w, i, st)
		l.inFlight.Add(-1)
	}
}

// submission is the body of a ticket's submission; a struct, not a map, so that the
// client spends as little of the machine's CPU as it can on encoding it.
type submission struct {
	Process     string      `json:"process"`
	BusinessKey string      `json:"business_key"`
	Title       string      `json:"title"`
	Submitter   submitter   `json:"submitter"`
	Fields      benchFields `json:"fields"`
}

type submitter struct {
	ID string `json:"id"`
}

// benchFields are the fields of the process's tickets (processDefinition).
type benchFields struct {
	Subject string `json:"subject"`
	Amount  string `json:"amount"`
	Note    string `json:"note"`
}

// approval is the body of every approval, encoded once.
var approval = []byte(`{"comment":"ok"}`)

// ticket submits ticket i and approves it at every node, over w if it is not nil.
func (l *load) ticket(ctx context.Context, w *wire, i int64, st *workerStats) {
	sub := submission{Process: processKey, BusinessKey: fmt.Sprintf("%s-%d", l.runID, i),
		Title: fmt.Sprintf("ticketbench %s #%d", l.runID, i), Submitter: submitter{ID: submitterID},
		Fields: benchFields{Subject: fmt.Sprintf("load ticket %d", i), Amount: "128.00", Note: "driven by ticketbench"}}
	body, err := gojson.Marshal(sub)
	if err != nil {
		st.errs = append(st.errs, err.Error())
		l.broken.Add(1)
		return
	}
	res, ok := l.command(ctx, w, kindSubmit, "/v1/tickets", l.actors.system, body, st)
	if !ok {
		return
	}
	id := res.TicketID
	for n := range nodes {
		if ctx.Err() != nil || !time.Now().Before(l.stop) {
			return
		}
		if res, ok = l.command(ctx, w, kindApprove, "/v1/tickets/"+id+"/approve", l.actors.approvers[n], approval, st); !ok {
			return
		}
	}
	if res.Status != "approved" {
		l.broken.Add(1)
		st.errs = append(st.errs, fmt.Sprintf("ticket %s is %s after the last approval, not approved", id, res.Status))
		return
	}
	l.done.Add(1)
}

// command sends one command, its JSON body over w (or the shared client if w is nil),
// and records its latency or failure; a sample of the successful ones is followed by a
// lag probe.
func (l *load) command(ctx context.Context, w *wire, kind int, path, token string, body []byte, st *workerStats) (ticketResult, bool) {
	var res ticketResult
	began := time.Now()
	var err error
	served, stored, paced := time.Duration(-1), time.Duration(-1), time.Duration(0)
	if w != nil {
		_, err = w.post(ctx, path, token, body, &res)
		served, stored, paced = w.served, w.stored, w.paced
	} else {
		_, err = l.c.call(ctx, "POST", path, token, body, "application/json", &res)
	}
	answered := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return res, false
		}
		st.failed[kind]++
		l.failures.Add(1)
		l.broken.Add(1)
		if len(st.errs) < 5 {
			st.errs = append(st.errs, err.Error())
		}
		return res, false
	}
	st.samples[kind] = append(st.samples[kind], sample{started: began.Sub(l.began), latency: answered.Sub(began),
		served: served, stored: stored, paced: paced})
	l.commands.Add(1)
	if every := int64(l.cfg.lagEvery); every > 0 && l.commandSeq.Add(1)%every == 0 {
		l.probes.Add(1)
		go l.probe(ctx, res.TicketID, res.Position, answered)
	}
	return res, true
}

// probe reads the ticket with min_position set to a command's position, again while the
// server answers that the read model is behind, and records the time from the command's
// answer to the read's.
func (l *load) probe(ctx context.Context, id, pos string, answered time.Time) {
	defer l.probes.Done()
	path := "/v1/tickets/" + id + "?min_position=" + pos
	for {
		_, err := l.c.call(ctx, "GET", path, l.actors.system, nil, "", nil)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable && time.Since(answered) < time.Minute {
			continue
		}
		l.lagMu.Lock()
		if err != nil {
			l.lagFailures++
			if len(l.lagErrs) < 3 && ctx.Err() == nil {
				l.lagErrs = append(l.lagErrs, err.Error())
			}
		} else {
			l.lags = append(l.lags, time.Since(answered))
		}
		l.lagMu.Unlock()
		return
	}
}

// catchUp is how long after the last command the read models reached the head of the
// log: all of them, and each, as first seen (the reads are 50 ms apart).
type catchUp struct {
	all  time.Duration
	each map[string]time.Duration
}

// String gives all, then each read model's time in name order.
func (c catchUp) String() string {
	names := slices.Sorted(maps.Keys(c.each))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + ms(c.each[n])
	}
	return fmt.Sprintf("%s after the last command (%s)", ms(c.all), strings.Join(parts, ", "))
}

// projectionsCaughtUp waits, at most limit, until every read model has reached the head
// of the log, and returns how long each took and all did.
func projectionsCaughtUp(ctx context.Context, c *client, admin string, limit time.Duration) (catchUp, error) {
	began := time.Now()
	res := catchUp{each: map[string]time.Duration{}}
	end := func(err error) (catchUp, error) {
		res.all = time.Since(began)
		return res, err
	}
	for {
		var out struct {
			Projections []struct {
				Name       string `json:"name"`
				Healthy    bool   `json:"healthy"`
				Error      string `json:"error"`
				Checkpoint string `json:"checkpoint"`
				Head       string `json:"head"`
				LagEvents  int64  `json:"lag_events"`
			} `json:"projections"`
		}
		if _, err := c.call(ctx, "GET", "/v1/projections", admin, nil, "", &out); err != nil {
			return end(err)
		}
		at := time.Since(began)
		behind := ""
		for _, p := range out.Projections {
			switch {
			case !p.Healthy:
				return end(fmt.Errorf("projection %s is unhealthy: %s", p.Name, p.Error))
			case p.Checkpoint != p.Head && p.LagEvents > 0:
				behind = fmt.Sprintf("%s is %d events behind", p.Name, p.LagEvents)
			default:
				if _, seen := res.each[p.Name]; !seen {
					res.each[p.Name] = at
				}
			}
		}
		if behind == "" {
			return end(nil)
		}
		if time.Since(began) > limit {
			return end(fmt.Errorf("the read models did not catch up within %s: %s", limit, behind))
		}
		select {
		case <-ctx.Done():
			return end(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
