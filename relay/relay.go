package relay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
)

// Defaults of RelayConfig.
const (
	DefaultRelayName          = "outcomes"
	DefaultRelayBatchSize     = 100
	DefaultCheckpointInterval = time.Second
	DefaultBatchInterval      = 100 * time.Millisecond
	DefaultRetryDelay         = 2 * time.Second
	DefaultRecentBytes        = 32 << 20
)

// drainFactor bounds the log messages one batch takes: BatchSize outcomes and reports,
// and the other events of their streams between them, up to drainFactor times as many.
const drainFactor = 16

// RelayConfig tunes a Relay. The zero value selects every default.
type RelayConfig struct {
	// Name identifies the relay's checkpoint and its advisory lock: relays with the same
	// name share one place in the log and only one of them runs at a time.
	// Default DefaultRelayName.
	Name string
	// BatchSize is the largest number of outcomes and execution reports handled in one
	// transaction (with the other events of the log between them, up to 16 times as many
	// messages). Default DefaultRelayBatchSize.
	BatchSize int
	// RecentBytes bounds the memory that keeps the events of the ticket streams the relay
	// follows, so that an outcome's history comes from memory instead of a read of its
	// stream (a stream the relay did not follow from its start, after a restart or once
	// evicted, is read). Default DefaultRecentBytes; negative: keep none.
	RecentBytes int
	// BatchInterval is the least time between two transactions that relay something.
	// The outcomes that arrive within it of the last one gather into the next (up to
	// BatchSize): under load, one transaction, one publication and one commit for many
	// outcomes, for a delay of the interval at most; an outcome after a quiet spell
	// goes at once. Default DefaultBatchInterval; negative: every batch at once.
	BatchInterval time.Duration
	// CheckpointInterval is how often progress through events that are not outcomes is
	// saved; an outcome always saves the checkpoint with its message.
	// Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// RetryDelay is the pause before following the log again after a failure.
	// Default DefaultRetryDelay.
	RetryDelay time.Duration
	// Logger receives one record per failure; default slog.Default().
	Logger *slog.Logger
}

func (c *RelayConfig) setDefaults() {
	if c.Name == "" {
		c.Name = DefaultRelayName
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultRelayBatchSize
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.BatchInterval == 0 {
		c.BatchInterval = DefaultBatchInterval
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.RecentBytes == 0 {
		c.RecentBytes = DefaultRecentBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work, after defaults are applied.
func (c RelayConfig) Validate() error {
	c.setDefaults()
	if c.BatchSize > 10000 {
		return errors.New("relay: a batch above 10000 messages holds its transaction too long")
	}
	return nil
}

// Relay follows the event log from its own checkpoint and turns every final outcome of a
// ticket (approved, rejected, withdrawn) into an outcome message on the transport. Each
// batch of messages is published in the transaction that moves the checkpoint, so an
// outcome is published once per checkpoint move: never lost, and repeated only by a
// transport that publishes outside the transaction (see Transport). Under load, the
// outcomes that arrive within RelayConfig.BatchInterval of a batch's commit wait for the
// next batch, so that many share one transaction.
//
// Before publishing, the relay verifies the ticket's hash chain up to the outcome and
// folds its history into the payload. The history comes from the events the relay
// followed when it has seen the whole stream (RelayConfig.RecentBytes), and from a read
// of the stream otherwise; a stream tombstoned since is therefore relayed as followed,
// or, read, fails as deleted. An outcome whose history does not verify or
// decode is quarantined (recorded in relay_quarantine and logged) instead of being
// sent. The relay also records the business system's execution reports
// (ticket.execution-reported) against the relayed outcome.
//
// Run is meant to be called once per Relay; several Relays with the same name (several
// processes) elect one active instance with a PostgreSQL advisory lock, held on one
// connection of the store's pool while the relay runs.
type Relay struct {
	events    eventstore.Store
	store     *Store
	transport Transport
	cfg       RelayConfig
	log       *slog.Logger
}

// New returns a Relay reading events, keeping its state in store and publishing on
// transport.
func New(events eventstore.Store, store *Store, transport Transport, cfg RelayConfig) (*Relay, error) {
	if events == nil || store == nil || transport == nil {
		return nil, errors.New("relay: New needs an event store, a relay store and a transport")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Relay{events: events, store: store, transport: transport, cfg: cfg, log: cfg.Logger.With("relay", cfg.Name)}, nil
}

// Run follows the log until ctx ends, then returns nil. Failures (database or event
// store unavailable, a lost election) are logged once each and followed, after
// RetryDelay, by a fresh subscription from the saved checkpoint.
func (r *Relay) Run(ctx context.Context) error {
	for {
		err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Error("relay: following the event log failed; resuming from the checkpoint", "err", err, "retry_in", r.cfg.RetryDelay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.RetryDelay):
		}
	}
}

// lockKey is the advisory lock that elects the active relay of a name.
func (r *Relay) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("ticketledger/relay/" + r.cfg.Name))
	return int64(h.Sum64())
}

// errCheckpointMoved reports that another relay moved the checkpoint.
var errCheckpointMoved = errors.New("relay: the checkpoint moved under this relay; another instance is active")

// follow holds the election lock and relays from the checkpoint until a failure.
func (r *Relay) follow(ctx context.Context) error {
	conn, err := r.store.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, r.lockKey()); err != nil {
		return fmt.Errorf("relay: wait for the election lock: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, r.lockKey()); err != nil {
			conn.Conn().Close(ctx)
		}
	}()

	cur, err := r.store.loadCheckpoint(ctx, r.cfg.Name)
	if err != nil {
		return err
	}
	// Every event of the ticket streams: the outcomes and execution reports to relay,
	// and the events before an outcome, kept for its payload; only the first two when
	// none is kept.
	filter := eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}}
	if r.cfg.RecentBytes <= 0 {
		filter = relayedFilter
	}
	sub, err := r.events.Subscribe(ctx, cur, filter)
	if err != nil {
		return fmt.Errorf("relay: subscribe from %s: %w", cur, err)
	}
	defer sub.Close()
	recent := newRecentStreams(r.cfg.RecentBytes)

	msgs := sub.Messages()
	unsaved := cur
	lastSave := time.Now()
	var lastCommit time.Time // of the last batch that relayed something
	for {
		var (
			m  eventstore.Message
			ok bool
		)
		select {
		case m, ok = <-msgs:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return fmt.Errorf("relay: subscription ended: %w", subscriptionErr(sub))
		}
		raw, err := r.gather(ctx, msgs, m, lastCommit.Add(r.cfg.BatchInterval))
		if err != nil {
			return err
		}
		b, err := r.prepare(ctx, recent, raw)
		if err != nil {
			return err
		}
		if !b.pos.IsZero() {
			unsaved = b.pos
		}
		if b.empty() && (unsaved == cur || time.Since(lastSave) < r.cfg.CheckpointInterval) {
			continue
		}
		if err := r.commit(ctx, cur, unsaved, b); err != nil {
			return err
		}
		cur, lastSave = unsaved, time.Now()
		if !b.empty() {
			lastCommit = lastSave
		}
	}
}

// relayedFilter selects the events the relay writes: the outcomes and execution reports
// of tickets.
var relayedFilter = eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")},
	TypePrefixes: []string{ticket.TypeApproved, ticket.TypeRejected, ticket.TypeWithdrawn, ticket.TypeExecutionReported}}

// relayable reports whether m is an event the relay writes (relayedFilter).
func relayable(m eventstore.Message) bool {
	return m.Kind == eventstore.EventMessage && m.Event != nil && relayedFilter.Match(m.Event.Stream, m.Event.Type)
}

func subscriptionErr(sub eventstore.Subscription) error {
	if err := sub.Err(); err != nil {
		return err
	}
	return errors.New("closed")
}

// gather returns the batch that begins with first: the messages ready after it and,
// until hold, those that arrive, up to BatchSize outcomes and execution reports and
// drainFactor times as many messages in all. It fails only when ctx ends.
func (r *Relay) gather(ctx context.Context, msgs <-chan eventstore.Message, first eventstore.Message, hold time.Time) ([]eventstore.Message, error) {
	raw := []eventstore.Message{first}
	relayed := 0
	if relayable(first) {
		relayed++
	}
	for relayed < r.cfg.BatchSize && len(raw) < drainFactor*r.cfg.BatchSize {
		m, got, _ := eventstore.Receive(ctx, msgs, time.Until(hold))
		if !got {
			break
		}
		raw = append(raw, m)
		if relayable(m) {
			relayed++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return raw, nil
}

// batch is what one checkpoint transaction writes.
type batch struct {
	pos         eventstore.Position
	outcomes    []outcomeMessage
	executions  []executionReport
	quarantined []quarantined
}

func (b *batch) empty() bool {
	return len(b.outcomes) == 0 && len(b.executions) == 0 && len(b.quarantined) == 0
}

type executionReport struct {
	ticketID string
	ticket.Execution
	causation *uuid.UUID
}

type quarantined struct {
	eventID  uuid.UUID
	stream   string
	position eventstore.Position
	reason   string
}

// prepare turns subscription messages into a batch: the outcomes' payloads (their
// streams taken from the recent streams or read together, and verified, in log order),
// the execution reports, the quarantined outcomes and the last position. The other
// events of the ticket streams go to recent, the subscription's recent streams.
func (r *Relay) prepare(ctx context.Context, recent *recentStreams, raw []eventstore.Message) (*batch, error) {
	b := &batch{}
	var (
		outcomes []*eventstore.RecordedEvent
		streams  []eventstore.StreamEvents
		reads    []eventstore.StreamRead
		unread   []int // the outcomes whose streams are read, by index
	)
	for _, m := range raw {
		if !m.Position.IsZero() {
			b.pos = m.Position
		}
		if m.Kind != eventstore.EventMessage || m.Event == nil {
			continue
		}
		e := m.Event
		if e.Type == ticket.TypeExecutionReported {
			r.addExecution(b, e)
			continue
		}
		if _, ok := outcomeOf(e.Type); !ok {
			recent.add(e)
			continue
		}
		events, ok := recent.take(e)
		if !ok {
			unread = append(unread, len(outcomes))
			reads = append(reads, eventstore.StreamRead{Stream: e.Stream, Count: int(e.Version)})
		}
		outcomes = append(outcomes, e)
		streams = append(streams, eventstore.StreamEvents{Events: events})
	}
	if len(reads) > 0 {
		read, err := eventstore.ReadStreams(ctx, r.events, reads)
		if err != nil {
			return nil, fmt.Errorf("relay: read %d ticket streams: %w", len(reads), err)
		}
		for i, o := range unread {
			streams[o] = read[i]
		}
	}
	for i, e := range outcomes {
		om, bad := outcome(e, streams[i])
		if bad != nil {
			r.quarantine(b, e, bad)
			continue
		}
		b.outcomes = append(b.outcomes, om)
	}
	return b, nil
}

// outcome verifies the stream of an outcome event, as read, and returns its message, or
// why that history cannot be relayed.
func outcome(e *eventstore.RecordedEvent, stream eventstore.StreamEvents) (outcomeMessage, error) {
	if stream.Err != nil {
		return outcomeMessage{}, stream.Err
	}
	events := stream.Events
	if n := len(events); n == 0 || events[n-1].ID != e.ID {
		return outcomeMessage{}, fmt.Errorf("%w: the stream does not end with the outcome at version %d", errUnrelayable, e.Version)
	}
	p, err := buildPayload(events)
	if err != nil {
		return outcomeMessage{}, err
	}
	return newOutcomeMessage(p)
}

func (r *Relay) addExecution(b *batch, e *eventstore.RecordedEvent) {
	ev, err := ticket.Decode(e.Type, e.Data)
	if err != nil {
		r.log.Error("relay: an execution report does not decode; it is not linked to its outcome", "stream", e.Stream, "version", e.Version, "err", err)
		return
	}
	rep := executionReport{ticketID: ticketIDOf(e.Stream), Execution: ev.(*ticket.ExecutionReported).Execution}
	if md, err := envelope.Decode(e.Metadata); err == nil {
		if id, err := uuid.Parse(md.CausationID); err == nil {
			rep.causation = &id
		}
	}
	b.executions = append(b.executions, rep)
}

func ticketIDOf(stream string) string {
	if id, ok := strings.CutPrefix(stream, ticket.Stream("")); ok && id != "" {
		return id
	}
	return stream
}

func (r *Relay) quarantine(b *batch, e *eventstore.RecordedEvent, err error) {
	r.log.Error("relay: outcome quarantined, not sent", "stream", e.Stream, "version", e.Version, "event_id", e.ID, "err", err)
	b.quarantined = append(b.quarantined, quarantined{eventID: e.ID, stream: e.Stream, position: e.Position, reason: err.Error()})
}

// insertOutcomesSQL records a batch's outcome messages (intakeRows.columns) in the outbox,
// each once.
var insertOutcomesSQL = `INSERT INTO relay_messages (` + outboxColumns + `) SELECT * FROM ` + outboxRows(1) + `
	ON CONFLICT (event_id) DO NOTHING`

// commit moves the checkpoint from cur to next with b's writes and publications, in one
// transaction.
func (r *Relay) commit(ctx context.Context, cur, next eventstore.Position, b *batch) error {
	now := r.store.now()
	msgs := make([]*message.Message, 0, len(b.outcomes))
	err := r.store.inTx(ctx, func(tx pgx.Tx) error {
		// The checkpoint's move and the batch's rows go in one round trip, the
		// publication in a second: the transaction holds its id, which holds back the
		// log's readers in the same cluster, for as little as it can.
		var q pgx.Batch
		q.Queue(`UPDATE relay_checkpoints SET position = $2, updated_at = $3 WHERE name = $1 AND position = $4`,
			r.cfg.Name, next.String(), now, cur.String())
		if len(b.outcomes) > 0 {
			var rows intakeRows
			for _, o := range b.outcomes {
				if err := rows.add(o, now); err != nil {
					return err
				}
				msgs = append(msgs, o.watermill(r.store.installation))
			}
			q.Queue(insertOutcomesSQL, rows.columns()...)
		}
		for _, x := range b.executions {
			q.Queue(`UPDATE relay_messages m SET execution_status = $2, execution_detail = $3, execution_by = $4, execution_at = $5,
					execution_webhook_id = COALESCE((SELECT d.id::text FROM relay_deliveries d WHERE d.id = $6 AND d.event_id = m.event_id), '')
				WHERE ticket_id = $1`, x.ticketID, x.Status, x.Detail, x.ReportedBy, x.At, x.causation)
		}
		for _, qu := range b.quarantined {
			q.Queue(`INSERT INTO relay_quarantine (event_id, stream, position, reason, at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (event_id) DO NOTHING`, qu.eventID, qu.stream, qu.position.String(), qu.reason, now)
		}
		br := tx.SendBatch(ctx, &q)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() != 1 {
			br.Close()
			return errCheckpointMoved
		}
		if err := br.Close(); err != nil {
			return err
		}
		return r.transport.Publish(ctx, tx, msgs...)
	})
	if err != nil {
		return fmt.Errorf("relay: save the checkpoint at %s: %w", next, err)
	}
	return nil
}

// loadCheckpoint returns the saved position of the relay name, creating it at the start
// of the log.
func (s *Store) loadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO relay_checkpoints (name, position, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, eventstore.Start.String(), s.now()); err != nil {
		return eventstore.Position{}, fmt.Errorf("relay: checkpoint %s: %w", name, err)
	}
	return s.Checkpoint(ctx, name)
}

// Checkpoint returns the log position up to which the relay name has published every
// outcome (eventstore.Start when it never ran).
func (s *Store) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	var text string
	err := s.pool.QueryRow(ctx, `SELECT position FROM relay_checkpoints WHERE name = $1`, name).Scan(&text)
	if isNoRows(err) {
		return eventstore.Start, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("relay: checkpoint %s: %w", name, err)
	}
	return eventstore.ParsePosition(text)
}
