package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/relay/egress"
)

// DefaultSchedule is the default retry schedule: the delay before each attempt, counted
// from the previous failure (the first from the outcome's arrival). After the last
// attempt fails the delivery is dead-lettered: eight attempts over about 28 hours.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of DispatcherConfig.
const (
	DefaultJitter        = 0.2
	DefaultTimeout       = 15 * time.Second
	DefaultLease         = time.Minute
	DefaultStopGrace     = 5 * time.Second
	DefaultConcurrency   = 8
	DefaultPollInterval  = time.Second
	DefaultMaxRetryAfter = 24 * time.Hour
	DefaultUserAgent     = "ticketledger-relay/1"
)

// DispatcherConfig tunes a Dispatcher. The zero value selects every default; tests
// shorten Schedule, Timeout, Lease and PollInterval.
type DispatcherConfig struct {
	// Schedule is the delay before each attempt, counted from the previous failure;
	// its length is the number of attempts before a delivery is dead-lettered.
	// Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each non-zero delay uniformly within ±Jitter of it (a fraction below
	// 1). Default DefaultJitter; a negative value disables jitter.
	Jitter float64
	// Timeout bounds one attempt, from dialling to reading the (first 64 KiB of the)
	// response. Default DefaultTimeout.
	Timeout time.Duration
	// Lease is how long a claimed delivery stays reserved to its worker. A worker that
	// dies mid-attempt (a crashed process) leaves the delivery to be retried once the
	// lease expires. It must exceed Timeout. Default DefaultLease.
	Lease time.Duration
	// StopGrace is how long attempts in flight when Run's context ends may go on to their
	// answers; those still running after it are cut and recorded as interrupted. Default
	// DefaultStopGrace.
	StopGrace time.Duration
	// Concurrency is the number of attempts in flight per endpoint. Default
	// DefaultConcurrency.
	Concurrency int
	// PollInterval is how often the dispatcher looks for deliveries that became due
	// (retries, redeliveries, other processes' work). New outcomes are dispatched as they
	// arrive. Default DefaultPollInterval.
	PollInterval time.Duration
	// MaxRetryAfter caps the delay a receiver may ask for with Retry-After.
	// Default DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Egress decides which addresses requests may reach, checked at dial time.
	Egress egress.Policy
	// UserAgent is sent with every request. Default DefaultUserAgent.
	UserAgent string
	// Logger receives one record per failure; default slog.Default().
	Logger *slog.Logger
}

func (c *DispatcherConfig) setDefaults() {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease <= 0 {
		c.Lease = max(DefaultLease, 2*c.Timeout)
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work, after defaults are applied.
func (c DispatcherConfig) Validate() error {
	c.setDefaults()
	for i, d := range c.Schedule {
		if d < 0 {
			return fmt.Errorf("relay: schedule[%d] is negative", i)
		}
	}
	if c.Jitter >= 1 {
		return errors.New("relay: jitter must be below 1")
	}
	if c.Lease <= c.Timeout {
		return fmt.Errorf("relay: the lease (%s) must exceed the attempt timeout (%s)", c.Lease, c.Timeout)
	}
	return nil
}

// Dispatcher delivers outcome messages to endpoints as signed webhooks.
//
// It consumes the transport and turns each outcome into one pending delivery per
// endpoint that wants it (idempotently: a redelivered message adds nothing), then acks
// the message; on the SQL transport, the outcomes of a batch of messages get their
// deliveries with the batch's acknowledgement, in one statement. Deliveries are attempted
// by one worker per endpoint with up to Concurrency requests in flight, so a slow or dead
// endpoint only ever holds its own worker. Each worker leases due deliveries in log order,
// skipping any whose ticket has an earlier delivery still pending, which keeps each
// ticket's outcomes in order.
//
// An attempt is a POST of the payload with the Standard Webhooks headers, signed with
// every live secret of the endpoint. A 2xx response delivers; 410 Gone disables the
// endpoint (its deliveries wait until it is enabled again); any other response or error
// schedules the next attempt after the configured delay with jitter, or later if the
// receiver's Retry-After asks so, and dead-letters the delivery after the last one. Every
// attempt is recorded. Several dispatchers (processes) may share the work; leases keep
// them from sending the same delivery at once.
//
// New deliveries are announced with PostgreSQL NOTIFY on commit; the dispatcher listens
// on a connection of its own (outside the store's pool) and polls every PollInterval as
// a fallback and for retries that fall due. A worker reads its endpoint's settings and
// secrets at most once a second, so an operator's change takes effect within a second.
type Dispatcher struct {
	store     *Store
	transport Transport
	cfg       DispatcherConfig
	client    *http.Client
	log       *slog.Logger
	running   atomic.Bool
	// attempts is the context of every attempt: it outlives Run's context by
	// cfg.StopGrace, then ends with errStopped (see Run).
	attempts    context.Context
	cutAttempts context.CancelCauseFunc

	mu      sync.Mutex
	workers map[uuid.UUID]*worker // guarded by mu
	wg      sync.WaitGroup
}

// worker is the state of an endpoint's running worker.
type worker struct {
	// again asks the worker to look for due deliveries once more before it stops.
	again bool
}

// NewDispatcher returns a Dispatcher consuming transport and keeping its state in store.
func NewDispatcher(store *Store, transport Transport, cfg DispatcherConfig) (*Dispatcher, error) {
	if store == nil || transport == nil {
		return nil, errors.New("relay: NewDispatcher needs a store and a transport")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	attempts, cut := context.WithCancelCause(context.Background())
	return &Dispatcher{
		store: store, transport: transport, cfg: cfg, attempts: attempts, cutAttempts: cut,
		client:  cfg.Egress.Client(min(cfg.Timeout, 10*time.Second), cfg.Concurrency),
		log:     cfg.Logger,
		workers: make(map[uuid.UUID]*worker),
	}, nil
}

// Run dispatches until ctx ends, then lets the attempts in flight go on to their answers
// for DispatcherConfig.StopGrace, cuts those still running (recording them as interrupted,
// to be repeated with the same webhook-id), waits for its workers and
// returns nil. It returns an error if the transport cannot be subscribed to or its
// subscription ends before ctx. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("relay: Dispatcher.Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The subscription's context ends after the intake has stopped, not with ctx. The SQL
	// transport stops waiting for a message's acknowledgement when its context ends, to
	// acknowledge the batch's earlier messages and commit: ended while the intake stages
	// a message, the message could be acknowledged after its batch was.
	subCtx, endSubscription := context.WithCancel(context.WithoutCancel(ctx))
	defer endSubscription()
	msgs, err := d.transport.Subscribe(subCtx)
	if err != nil {
		return err
	}
	ended := make(chan struct{})
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer close(ended)
		d.intake(ctx, msgs)
	}()
	go func() {
		defer d.wg.Done()
		d.listen(ctx)
	}()

	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	d.poll(ctx)
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ended:
			if ctx.Err() == nil {
				runErr = errors.New("relay: the transport subscription ended")
			}
			break loop
		case <-tick.C:
			d.poll(ctx)
		}
	}
	cancel()
	// The attempts in flight go on to their answers for the grace; an answer within it is
	// recorded as any other, sparing the receiver a repeat.
	grace := time.AfterFunc(d.cfg.StopGrace, func() { d.cutAttempts(errStopped) })
	defer grace.Stop()
	<-ended
	endSubscription()
	d.wg.Wait()
	return runErr
}

// enqueueGrace bounds the time the intake takes to record a message once the dispatcher
// is stopping.
const enqueueGrace = 5 * time.Second

// claimGrace bounds a round's claim, and the release of deliveries claimed once the
// dispatcher is stopping, which run to the end rather than be cancelled (see round).
const claimGrace = 10 * time.Second

// intake turns messages into deliveries until msgs closes or ctx ends.
func (d *Dispatcher) intake(ctx context.Context, msgs <-chan *message.Message) {
	own := d.store.installation.String()
	for {
		var msg *message.Message
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			msg = m
		}
		m, err := parseOutcomeMessage(msg)
		if err != nil {
			d.log.Error("relay: malformed outcome message dropped", "message", msg.UUID, "err", err)
			msg.Ack()
			continue
		}
		if from := msg.Metadata.Get(MetaInstallation); from != "" && from != own {
			// Two installations share the transport: the message is another's, which its
			// own dispatcher is to have, not recorded here.
			d.log.Error("relay: an outcome of another installation came through the transport; give each installation its own NATS topic (--nats-topic)",
				"installation", from, "this_installation", own, "ticket", m.TicketID)
			handBack(ctx, msg)
			continue
		}
		// The SQL transport hands each message with the transaction that consumes it, and
		// takes the messages of a batch in with its acknowledgement, in that transaction.
		if st, ok := d.transport.(*SQLTransport); ok {
			if _, inTx := wsql.TxFromContext(msg.Context()); inTx {
				if err := st.stage(msg, m, d.store.now(), d.cfg.Schedule[0]); err == nil {
					msg.Ack()
					continue
				}
			}
		}
		// A message being recorded when ctx ends is recorded to the end, for enqueueGrace
		// at most, rather than handed back with its statement nearly done.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueGrace)
		err = d.store.enqueue(ectx, m, d.cfg.Schedule[0])
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("relay: outcome not enqueued; the transport will redeliver it", "ticket", m.TicketID, "event_id", m.EventID, "err", err)
			}
			handBack(ctx, msg)
			continue
		}
		msg.Ack()
	}
}

// handBack nacks msg, for the transport to hand over again, after a second or once ctx
// ends: a message handed back at once could come back as fast, in a tight loop.
func handBack(ctx context.Context, msg *message.Message) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	msg.Nack()
}

// listen kicks the workers of the endpoints announced on dueChannel, reconnecting after
// failures; polling covers the gaps.
func (d *Dispatcher) listen(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("relay: listening for new deliveries failed; polling until it is back", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, d.store.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+dueChannel); err != nil {
		return err
	}
	d.poll(ctx)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := uuid.Parse(n.Payload); err == nil {
			d.kick(ctx, id)
		}
	}
}

// poll starts workers for endpoints with due deliveries.
func (d *Dispatcher) poll(ctx context.Context) {
	ids, err := d.store.dueEndpoints(ctx, d.store.now())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("relay: looking for due deliveries failed", "err", err)
		}
		return
	}
	for _, id := range ids {
		d.kick(ctx, id)
	}
}

// kick makes sure the endpoint's worker runs and looks for due deliveries.
func (d *Dispatcher) kick(ctx context.Context, id uuid.UUID) {
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.workers[id]; ok {
		w.again = true
		return
	}
	w := &worker{}
	d.workers[id] = w
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.work(ctx, id, w)
	}()
}

// targetTTL is how long a worker reuses an endpoint's settings and secrets.
const targetTTL = time.Second

// work sends the endpoint's due deliveries, round after round, until none is left.
func (d *Dispatcher) work(ctx context.Context, id uuid.UUID, w *worker) {
	var (
		t      target
		loaded time.Time
	)
	for {
		var (
			n   int
			err error
		)
		if time.Since(loaded) > targetTTL {
			t, err = d.store.dispatchTarget(ctx, id, d.store.now())
			loaded = time.Now()
		}
		if err == nil && t.endpoint.Enabled {
			var disabled bool
			n, disabled, err = d.round(ctx, t)
			if disabled {
				loaded = time.Time{}
			}
		}
		if err != nil && ctx.Err() == nil {
			d.log.Error("relay: endpoint worker failed; the next poll resumes it", "endpoint", id, "err", err)
		}
		d.mu.Lock()
		if ctx.Err() == nil && err == nil && (n > 0 || w.again) {
			if w.again {
				loaded = time.Time{}
			}
			w.again = false
			d.mu.Unlock()
			continue
		}
		delete(d.workers, id)
		d.mu.Unlock()
		return
	}
}

// round claims up to Concurrency due deliveries of the endpoint, attempts them at once,
// records the attempts together and returns how many it attempted and whether an answer
// disabled the endpoint.
func (d *Dispatcher) round(ctx context.Context, t target) (n int, disabled bool, err error) {
	if ctx.Err() != nil {
		return 0, false, nil
	}
	// The claim is not cancelled with ctx: a claim cancelled in flight may have committed
	// without its answer, leaving its deliveries leased and unattempted until the lease
	// ends, a minute after a restart. Claimed when ctx has ended, they are given back.
	now := d.store.now()
	cctx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), claimGrace)
	cs, err := d.store.claim(cctx, t.endpoint.ID, now, now.Add(d.cfg.Lease), d.cfg.Concurrency)
	cancelClaim()
	if err != nil || len(cs) == 0 {
		return 0, false, err
	}
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimGrace)
		defer cancel()
		return 0, false, d.store.release(rctx, cs)
	}
	results := make([]result, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = d.attempt(t, c)
		}()
	}
	wg.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.store.record(rctx, results); err != nil {
		return 0, false, fmt.Errorf("%w (the deliveries are retried when their leases expire)", err)
	}
	for _, r := range results {
		d.report(t, r)
		disabled = disabled || r.disable != ""
	}
	return len(cs), disabled, nil
}
