package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of SQLTransportConfig.
const (
	DefaultSQLPollInterval = 100 * time.Millisecond
	DefaultSQLBatchSize    = 20
	DefaultSQLAckDeadline  = 30 * time.Second
	// DefaultSQLPruneInterval is how often ticketd prunes the consumed messages (Prune).
	DefaultSQLPruneInterval = time.Minute
)

// SQLTransportConfig tunes the PostgreSQL transport. The zero value selects every default.
type SQLTransportConfig struct {
	// Topic is the Watermill topic; its messages live in the table "watermill_<topic>".
	// Default DefaultTopic.
	Topic string
	// ConsumerGroup is the dispatchers' consumer group. Default DefaultConsumerGroup.
	ConsumerGroup string
	// PollInterval is how often an idle subscriber looks for new messages; it bounds the
	// transport's share of the decision-to-delivery latency. Default DefaultSQLPollInterval.
	PollInterval time.Duration
	// BatchSize is the number of messages a subscriber reads per query and consumes in
	// one transaction, which moves the group's offset when the last is acknowledged.
	// Default DefaultSQLBatchSize.
	BatchSize int
	// AckDeadline is how long a message may stay unacknowledged before it is redelivered.
	// Default DefaultSQLAckDeadline.
	AckDeadline time.Duration
	// Logger receives Watermill's logs (its info level as debug); default slog.Default().
	Logger *slog.Logger
}

func (c *SQLTransportConfig) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = DefaultConsumerGroup
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultSQLPollInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultSQLBatchSize
	}
	if c.AckDeadline <= 0 {
		c.AckDeadline = DefaultSQLAckDeadline
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work, after defaults are applied.
func (c SQLTransportConfig) Validate() error {
	c.setDefaults()
	if c.PollInterval > time.Minute {
		return errors.New("relay: SQL transport: a poll interval above a minute delays every outcome")
	}
	return nil
}

// SQLTransport is the default transport: Watermill's SQL pub/sub on the PostgreSQL
// database of the relay (schema adapter DefaultPostgreSQLSchema with a bytea payload, so
// webhook bodies travel byte for byte). Publish writes the messages in the relay's
// checkpoint transaction: they become visible exactly when the checkpoint moves.
//
// A subscriber consumes a batch in one transaction, which Watermill hands over with each
// message (TxFromContext). The dispatcher stages each message's outcome with the transport
// and acknowledges it; the statement that moves the group's offset at the end of the batch
// records the staged outcomes and their deliveries (consumerOffsets.AckMessageQuery), so
// that they commit with the offset: one statement and one commit per batch. Claiming the
// group takes no transaction id (consumerOffsets); the transaction takes one with that last
// statement and holds it to its commit, so the readers of an event log in the same cluster
// (see eventstore/pgstore), and the transport's own, which wait for older transaction ids
// to end, hardly wait for it. The intake is idempotent, so a batch consumed again after a
// crash, or after its last statement failed, adds nothing.
type SQLTransport struct {
	cfg    SQLTransportConfig
	pool   *pgxpool.Pool
	schema outboxSchema
	sub    *wsql.Subscriber

	staged *intakeStage

	mu     sync.Mutex
	closed chan struct{}  // closed by Close; guarded by mu
	ending sync.WaitGroup // the subscriptions' ends (Subscribe)
}

var _ Transport = (*SQLTransport)(nil)

// NewSQLTransport creates the topic's tables if needed and returns a transport over pool,
// which stays the caller's.
func NewSQLTransport(ctx context.Context, pool *pgxpool.Pool, cfg SQLTransportConfig) (*SQLTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	schema := outboxSchema{wsql.DefaultPostgreSQLSchema{
		GeneratePayloadType: func(string) string { return "BYTEA" },
		SubscribeBatchSize:  cfg.BatchSize,
	}}
	deadline := cfg.AckDeadline
	staged := &intakeStage{outcomes: make(map[string]stagedOutcome)}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		ConsumerGroup:  cfg.ConsumerGroup,
		AckDeadline:    &deadline,
		PollInterval:   cfg.PollInterval,
		ResendInterval: cfg.PollInterval,
		RetryInterval:  time.Second,
		SchemaAdapter:  schema,
		OffsetsAdapter: consumerOffsets{staged: staged},
	}, watermillLogger(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("relay: SQL transport: %w", err)
	}
	if err := sub.SubscribeInitialize(cfg.Topic); err != nil {
		return nil, fmt.Errorf("relay: SQL transport: initialise topic %s: %w", cfg.Topic, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("relay: SQL transport: %w", err)
	}
	return &SQLTransport{cfg: cfg, pool: pool, schema: schema, sub: sub, staged: staged, closed: make(chan struct{})}, nil
}

// Publish inserts msgs into the topic's table within tx.
func (t *SQLTransport) Publish(ctx context.Context, tx pgx.Tx, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: t.schema}, watermillLogger(t.cfg.Logger))
	if err != nil {
		return fmt.Errorf("relay: SQL transport: %w", err)
	}
	for _, m := range msgs {
		m.SetContext(ctx)
	}
	if err := pub.Publish(t.cfg.Topic, msgs...); err != nil {
		return fmt.Errorf("relay: SQL transport: publish: %w", err)
	}
	return nil
}

// subscriptionEndGrace bounds the end of a subscription (Subscribe): the commit of the
// batch being consumed.
const subscriptionEndGrace = 10 * time.Second

// Subscribe follows the topic as a member of the consumer group. When ctx ends, the
// subscription ends as Close ends it: a message handed over and not yet acknowledged is
// taken back, and the batch's transaction records the acknowledgements of the messages
// before it and commits. Watermill's subscriber, were its context to end instead, would be
// cut off in the middle of a statement, its connection closed with the transaction: the
// batch's acknowledgements would be lost, its messages consumed again after the restart,
// and the failed commit logged as an error. A transport serves one subscription: once
// that has ended, the transport is closed.
func (t *SQLTransport) Subscribe(ctx context.Context) (<-chan *message.Message, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closed:
		return nil, errors.New("relay: SQL transport: subscribe: the transport is closed")
	default:
	}
	live, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ch, err := t.sub.Subscribe(live, t.cfg.Topic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("relay: SQL transport: subscribe: %w", err)
	}
	t.ending.Add(1)
	go func() {
		defer t.ending.Done()
		defer cancel()
		select {
		case <-ctx.Done():
		case <-t.closed:
		}
		// A batch that cannot commit in time (the database gone) is cut off after all.
		cut := time.AfterFunc(subscriptionEndGrace, cancel)
		defer cut.Stop()
		t.sub.Close() // returns once the batch being consumed has committed
	}()
	return ch, nil
}

// outboxSchema is Watermill's PostgreSQL schema adapter, except for the query that reads
// a subscriber's next batch. Watermill's selects every message after the group's offset
// with an OR of two conditions, which no index scan can answer in order, and sorts them
// to keep the first batch: a poll reads the whole backlog, payloads included, to hand over
// a few messages, so a dispatcher that falls behind (or starts after a pause) slows down
// the further behind it is. outboxSchema compares (transaction_id, offset) as a row with
// the group's last acknowledged pair, which the primary key answers in order: a poll
// reads one batch whatever the backlog. The messages it selects, and their order, are
// the same.
type outboxSchema struct {
	wsql.DefaultPostgreSQLSchema
}

// SelectQuery returns the next batch of the consumer group's messages: those after its
// last acknowledged (transaction, offset), in that order, whose transactions are older
// than every transaction still running.
func (s outboxSchema) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	next, err := p.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: p.Topic, ConsumerGroup: p.ConsumerGroup})
	if err != nil {
		return wsql.Query{}, err
	}
	return wsql.Query{
		Query: `WITH last_processed AS (` + next.Query + `)
			SELECT "offset", transaction_id, uuid, payload, metadata FROM ` + s.MessagesTable(p.Topic) + `
			WHERE (transaction_id, "offset") > ((SELECT last_processed_transaction_id FROM last_processed), (SELECT offset_acked FROM last_processed))
				AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY transaction_id, "offset"
			LIMIT ` + strconv.Itoa(s.SubscribeBatchSize),
		Args: next.Args,
	}, nil
}

// consumerOffsets is Watermill's PostgreSQL offsets adapter, except for how a subscriber
// claims its consumer group for a batch. Watermill's locks the group's offsets row (FOR
// UPDATE), which gives the consuming transaction an id from its first statement to its
// commit, a round trip and a hand-over per message later: every reader that waits for
// older transaction ids to end (the event log's, this transport's) waits for it.
// consumerOffsets takes a transaction-scoped advisory lock instead, which needs no
// transaction id; a subscriber that does not get it reads no message and polls again.
// The offsets row is written only by the acknowledgement at the end of a batch. Two
// subscribers cannot consume the same batch at once; one whose snapshot predates the
// other's commit by the instant between its statement's start and the lock reads an old
// offset, and its acknowledgement then fails on the row the other updated (repeatable
// read), which hands a batch over twice: the dispatcher's intake is idempotent.
//
// The acknowledgement also takes in the outcomes the dispatcher staged for the batch's
// messages (see SQLTransport.stage): one statement records them and their deliveries and
// moves the offset, instead of a statement per message.
type consumerOffsets struct {
	wsql.DefaultPostgreSQLOffsetsAdapter
	staged *intakeStage
}

// AckMessageQuery moves the group's offset to the batch's last acknowledged message and
// takes in the outcomes staged for the batch's messages up to it (intakeCTE), in one
// statement of the consuming transaction. Should it fail, the transaction rolls back and
// the batch is handed over again.
func (a consumerOffsets) AckMessageQuery(p wsql.AckMessageQueryParams) (wsql.Query, error) {
	ack, err := a.DefaultPostgreSQLOffsetsAdapter.AckMessageQuery(p)
	if err != nil || a.staged == nil {
		return ack, err
	}
	var rows intakeRows
	for _, r := range p.Rows {
		if r.Msg != nil {
			if o, ok := a.staged.take(r.Msg.UUID); ok {
				rows.first = o.first
				if err := rows.add(o.message, o.at); err != nil {
					return wsql.Query{}, err
				}
			}
		}
		if r.Msg == p.LastRow.Msg {
			break // the messages after it were not acknowledged
		}
	}
	if rows.len() == 0 {
		return ack, nil
	}
	table := a.MessagesOffsetsTable(p.Topic)
	return wsql.Query{
		Query: `WITH ` + intakeCTE(4) + `
			INSERT INTO ` + table + ` (offset_acked, last_processed_transaction_id, consumer_group) SELECT $1, $2, $3 FROM due
			ON CONFLICT (consumer_group) DO UPDATE SET offset_acked = excluded.offset_acked,
				last_processed_transaction_id = excluded.last_processed_transaction_id`,
		Args: append(ack.Args[:3:3], rows.args()...),
	}, nil
}

// intakeStage holds the outcomes the dispatcher took from the SQL transport's messages
// until the acknowledgement of their batch takes them in.
type intakeStage struct {
	mu       sync.Mutex
	outcomes map[string]stagedOutcome // by message UUID
}

type stagedOutcome struct {
	message outcomeMessage
	at      time.Time
	// first is the dispatcher's first delay (see intakeRows).
	first time.Duration
}

// put stages o for the message uuid, replacing what an earlier hand-over of it left.
func (s *intakeStage) put(uuid string, o stagedOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[uuid] = o
}

// take removes and returns what is staged for the message uuid.
func (s *intakeStage) take(uuid string) (stagedOutcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.outcomes[uuid]
	delete(s.outcomes, uuid)
	return o, ok
}

// stage keeps m, the outcome of msg taken at now, for the acknowledgement of msg's batch,
// which records it with the group's offset; the caller acknowledges msg next. A message
// handed over again (its batch rolled back) is staged again, replacing what it left. An
// outcome whose position does not fit the delivery table is refused here, before it
// could fail its whole batch's acknowledgement: the caller records it as it would on any
// other transport, which fails on its own and hands it back.
func (t *SQLTransport) stage(msg *message.Message, m outcomeMessage, now time.Time, first time.Duration) error {
	if _, _, err := positionColumns(m.Position); err != nil {
		return err
	}
	t.staged.put(msg.UUID, stagedOutcome{message: m, at: now, first: first})
	return nil
}

// NextOffsetQuery returns the group's offsets if this transaction holds the group's
// advisory lock, and no row otherwise.
func (a consumerOffsets) NextOffsetQuery(p wsql.NextOffsetQueryParams) (wsql.Query, error) {
	table := a.MessagesOffsetsTable(p.Topic)
	return wsql.Query{
		Query: `SELECT o.offset_acked, o.last_processed_transaction_id
			FROM ` + table + ` o, (SELECT pg_try_advisory_xact_lock(hashtextextended($2 || '/' || $1, 0)) AS held) l
			WHERE o.consumer_group = $1 AND l.held`,
		Args: []any{p.ConsumerGroup, table},
	}, nil
}

// PruneBatch is the most messages one Prune statement deletes.
const PruneBatch = 5000

// Prune deletes the topic's messages that every consumer group has consumed, and returns
// how many it deleted. Watermill keeps them: a topic's table would grow by a row per
// outcome for ever, and the subscribers' poll, which filters it by transaction and offset,
// risks a plan that scans it. A message counts as consumed by a group when it lies at or
// before the group's last acknowledged (transaction, offset); the messages are the
// transport's copy only, the outbox row of every outcome stays in relay_messages. A topic
// without any consumer group yet keeps everything. Prune deletes in statements of up to
// PruneBatch rows until none is left.
func (t *SQLTransport) Prune(ctx context.Context) (int64, error) {
	msgs := t.schema.MessagesTable(t.cfg.Topic)
	offsets := wsql.DefaultPostgreSQLOffsetsAdapter{}.MessagesOffsetsTable(t.cfg.Topic)
	q := `WITH consumed AS (
			SELECT last_processed_transaction_id AS tx, offset_acked AS off FROM ` + offsets + `
			ORDER BY last_processed_transaction_id, offset_acked LIMIT 1)
		DELETE FROM ` + msgs + ` m WHERE m.ctid = ANY (ARRAY(
			SELECT x.ctid FROM ` + msgs + ` x, consumed c
			WHERE (x.transaction_id, x."offset") <= (c.tx, c.off)
			ORDER BY x.transaction_id, x."offset" LIMIT $1))`
	n, err := deleteInBatches(ctx, t.pool, q)
	if err != nil {
		return n, fmt.Errorf("relay: SQL transport: prune %s: %w", t.cfg.Topic, err)
	}
	return n, nil
}

// RunPruner prunes the topic every interval until ctx ends, then returns nil. A failure
// is logged and tried again at the next interval.
func (t *SQLTransport) RunPruner(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		n, err := t.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			t.cfg.Logger.Warn("relay: pruning consumed transport messages failed; trying again later", "error", err)
		case n > 0:
			t.cfg.Logger.Debug("relay: consumed transport messages pruned", "messages", n)
		}
	}
}

// Close ends the subscription as the end of Subscribe's context does, and returns once
// the batch being consumed has committed; the pool stays open.
func (t *SQLTransport) Close() error {
	t.mu.Lock()
	select {
	case <-t.closed:
	default:
		close(t.closed)
	}
	t.mu.Unlock()
	err := t.sub.Close()
	t.ending.Wait()
	return err
}
