package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
)

// Defaults of NATSTransportConfig.
const (
	DefaultNATSURL       = "nats://127.0.0.1:4222"
	DefaultNATSAckWait   = 30 * time.Second
	DefaultNATSConsumers = 4
	// DefaultNATSMaxAge is how long the stream keeps a message. A message is only the
	// carrier of an outcome the dispatchers turn into deliveries within seconds; the
	// deliveries, not the stream, keep it until it is delivered.
	DefaultNATSMaxAge = 30 * 24 * time.Hour
)

// NATSTransportConfig tunes the NATS JetStream transport. The zero value selects every
// default.
type NATSTransportConfig struct {
	// URL of the NATS server. Default DefaultNATSURL.
	URL string
	// Topic is the JetStream stream and subject; it must not contain '.', '*', '>' or
	// spaces. Default DefaultTopic.
	Topic string
	// Durable is the durable consumer and queue group the dispatchers share.
	// Default DefaultConsumerGroup.
	Durable string
	// AckWait is how long JetStream waits for an ack before redelivering.
	// Default DefaultNATSAckWait.
	AckWait time.Duration
	// Consumers is the number of subscriptions per dispatcher taking messages in
	// parallel. A ticket has a single outcome, and the dispatcher sends a ticket's
	// deliveries in log order once they are enqueued, so parallel intake reorders
	// nothing that matters. Default DefaultNATSConsumers.
	Consumers int
	// MaxAge is how long the stream keeps a message, set on the stream at start: an outcome
	// no dispatcher has taken in within it is lost. Default DefaultNATSMaxAge.
	MaxAge time.Duration
	// Options are extra connection options (credentials, TLS...).
	Options []nats.Option
	// Logger receives Watermill's logs (its info level as debug); default slog.Default().
	Logger *slog.Logger
}

func (c *NATSTransportConfig) setDefaults() {
	if c.URL == "" {
		c.URL = DefaultNATSURL
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Durable == "" {
		c.Durable = DefaultConsumerGroup
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultNATSAckWait
	}
	if c.Consumers <= 0 {
		c.Consumers = DefaultNATSConsumers
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultNATSMaxAge
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work, after defaults are applied.
func (c NATSTransportConfig) Validate() error {
	c.setDefaults()
	if strings.ContainsAny(c.Topic, ".*> \t") || strings.ContainsAny(c.Durable, ".*> \t") {
		return errors.New("relay: NATS transport: topic and durable must not contain '.', '*', '>' or spaces")
	}
	return nil
}

// NATSTransport carries outcome messages over NATS JetStream, for deployments where
// dispatchers run on several machines. The stream is created when missing. Publishing
// happens before the checkpoint transaction commits, with the outcome event id as the
// JetStream message id, so JetStream drops a republication within its duplicate window
// and the dispatcher drops any later one. Acknowledgements are sent without waiting for
// the server's confirmation: a lost one only redelivers a message the dispatcher has
// already turned into deliveries, which it then ignores.
type NATSTransport struct {
	cfg NATSTransportConfig
	pub *wnats.Publisher
	sub *wnats.Subscriber
}

var _ Transport = (*NATSTransport)(nil)

// NewNATSTransport connects to the server, ensures the stream exists and returns the
// transport. Errors wrap the NATS client's.
func NewNATSTransport(ctx context.Context, cfg NATSTransportConfig) (*NATSTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := watermillLogger(cfg.Logger)
	opts := append([]nats.Option{nats.Name("ticketledger-relay")}, cfg.Options...)
	js := wnats.JetStreamConfig{
		AutoProvision: true,
		TrackMsgId:    true,
		SubscribeOptions: []nats.SubOpt{
			nats.DeliverAll(), nats.AckExplicit(), nats.ManualAck(), nats.AckWait(cfg.AckWait),
		},
		DurablePrefix: cfg.Durable,
		AckAsync:      true,
	}
	pubJS := js
	pubJS.AutoProvision = false
	pub, err := wnats.NewPublisher(wnats.PublisherConfig{URL: cfg.URL, NatsOptions: opts, JetStream: pubJS}, log)
	if err != nil {
		return nil, fmt.Errorf("relay: NATS transport: %w", err)
	}
	sub, err := wnats.NewSubscriber(wnats.SubscriberConfig{
		URL: cfg.URL, NatsOptions: opts, QueueGroupPrefix: cfg.Durable, SubscribersCount: cfg.Consumers,
		AckWaitTimeout: cfg.AckWait, CloseTimeout: 5 * time.Second, JetStream: js,
	}, log)
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("relay: NATS transport: %w", err)
	}
	if err := sub.SubscribeInitialize(cfg.Topic); err != nil {
		pub.Close()
		sub.Close()
		return nil, fmt.Errorf("relay: NATS transport: stream %s: %w", cfg.Topic, err)
	}
	if err := limitStream(cfg, opts); err != nil {
		pub.Close()
		sub.Close()
		return nil, fmt.Errorf("relay: NATS transport: stream %s: %w", cfg.Topic, err)
	}
	if err := ctx.Err(); err != nil {
		pub.Close()
		sub.Close()
		return nil, fmt.Errorf("relay: NATS transport: %w", err)
	}
	return &NATSTransport{cfg: cfg, pub: pub, sub: sub}, nil
}

// limitStream gives the stream cfg.MaxAge: Watermill creates it keeping every message for
// ever, and nothing else would ever remove one.
func limitStream(cfg NATSTransportConfig, opts []nats.Option) error {
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	info, err := js.StreamInfo(cfg.Topic)
	if err != nil {
		return err
	}
	if info.Config.MaxAge == cfg.MaxAge {
		return nil
	}
	sc := info.Config
	sc.MaxAge = cfg.MaxAge
	_, err = js.UpdateStream(&sc)
	return err
}

// Publish publishes msgs to JetStream and waits for the server's acknowledgements; tx is
// not used.
func (t *NATSTransport) Publish(ctx context.Context, _ pgx.Tx, msgs ...*message.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("relay: NATS transport: %w", err)
	}
	if err := t.pub.Publish(t.cfg.Topic, msgs...); err != nil {
		return fmt.Errorf("relay: NATS transport: publish: %w", err)
	}
	return nil
}

// Subscribe joins the durable queue group.
func (t *NATSTransport) Subscribe(ctx context.Context) (<-chan *message.Message, error) {
	ch, err := t.sub.Subscribe(ctx, t.cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("relay: NATS transport: subscribe: %w", err)
	}
	return ch, nil
}

// Close closes both connections.
func (t *NATSTransport) Close() error {
	return errors.Join(t.sub.Close(), t.pub.Close())
}
