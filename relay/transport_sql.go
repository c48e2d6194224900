package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// one transaction; the dispatcher's deliveries of a batch become visible when it
	// commits. Default DefaultSQLBatchSize.
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
// checkpoint transaction: they become visible exactly when the checkpoint moves. The
// dispatcher writes a message's deliveries in the transaction in which the subscriber
// consumes it, so the consumer offset and the deliveries commit together.
type SQLTransport struct {
	cfg    SQLTransportConfig
	schema wsql.DefaultPostgreSQLSchema
	sub    *wsql.Subscriber
}

var (
	_ Transport = (*SQLTransport)(nil)
	_ txSource  = (*SQLTransport)(nil)
)

// NewSQLTransport creates the topic's tables if needed and returns a transport over pool,
// which stays the caller's.
func NewSQLTransport(ctx context.Context, pool *pgxpool.Pool, cfg SQLTransportConfig) (*SQLTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	schema := wsql.DefaultPostgreSQLSchema{
		GeneratePayloadType: func(string) string { return "BYTEA" },
		SubscribeBatchSize:  cfg.BatchSize,
	}
	deadline := cfg.AckDeadline
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		ConsumerGroup:  cfg.ConsumerGroup,
		AckDeadline:    &deadline,
		PollInterval:   cfg.PollInterval,
		ResendInterval: cfg.PollInterval,
		RetryInterval:  time.Second,
		SchemaAdapter:  schema,
		OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{},
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
	return &SQLTransport{cfg: cfg, schema: schema, sub: sub}, nil
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

// Subscribe follows the topic as a member of the consumer group.
func (t *SQLTransport) Subscribe(ctx context.Context) (<-chan *message.Message, error) {
	ch, err := t.sub.Subscribe(ctx, t.cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("relay: SQL transport: subscribe: %w", err)
	}
	return ch, nil
}

// messageTx returns the transaction in which the subscriber consumes msg; it commits
// with the message's acknowledgement and rolls back with a nack.
func (t *SQLTransport) messageTx(msg *message.Message) (pgx.Tx, bool) {
	tx, ok := wsql.TxFromContext(msg.Context())
	if !ok {
		return nil, false
	}
	p, ok := tx.(*wsql.PgxTx)
	if !ok || p.Tx == nil {
		return nil, false
	}
	return p.Tx, true
}

// Close stops the subscriptions; the pool stays open.
func (t *SQLTransport) Close() error {
	return t.sub.Close()
}
