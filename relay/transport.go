package relay

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// DefaultTopic is the Watermill topic outcome messages travel on.
const DefaultTopic = "ticket-outcomes"

// DefaultConsumerGroup names the dispatchers' consumer group (SQL) or durable queue
// group (NATS).
const DefaultConsumerGroup = "relay-dispatcher"

// Transport carries outcome messages from the Relay to the Dispatcher through Watermill.
// NewSQLTransport (the default, PostgreSQL) and NewNATSTransport (JetStream, for
// scale-out) implement it. Implementations are safe for concurrent use.
type Transport interface {
	// Publish publishes msgs, in order, as part of the relay's checkpoint transaction tx.
	// A transport on the same database writes them inside tx, so they exist exactly when
	// the checkpoint moves; another transport publishes them before tx commits, so a crash
	// in between republishes them (at-least-once; the dispatcher deduplicates by event).
	Publish(ctx context.Context, tx pgx.Tx, msgs ...*message.Message) error
	// Subscribe returns the messages for the dispatcher: each must be acked once handled,
	// or nacked to have it redelivered. The channel closes when ctx ends or the
	// transport closes.
	Subscribe(ctx context.Context) (<-chan *message.Message, error)
	// Close releases the transport's connections.
	Close() error
}

// watermillLogger adapts slog to Watermill, keeping Watermill's info chatter at debug and
// the errors of a cancelled subscription (a shutdown) at debug too.
func watermillLogger(l *slog.Logger) watermill.LoggerAdapter {
	return quietCancel{watermill.NewSlogLoggerWithLevelMapping(l, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})}
}

type quietCancel struct{ watermill.LoggerAdapter }

// Error logs err at debug when it comes from a cancelled context, else as an error.
func (q quietCancel) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.Debug(msg, fields.Add(watermill.LogFields{"err": err.Error()}))
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

// With keeps the wrapper on the derived logger.
func (q quietCancel) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietCancel{q.LoggerAdapter.With(fields)}
}
