package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ticketledger/ticketledger/eventstore"
)

// Store is an eventstore.Store on one EventStoreDB node or cluster. It is safe for
// concurrent use. Close it when done, after closing its subscriptions.
type Store struct {
	cfg esdbclient.Configuration

	mu     sync.Mutex
	client *esdbclient.Client
	// retired are clients whose connection loop has ended; they are closed with the Store.
	retired []*esdbclient.Client
	closed  bool
	// inflight counts the goroutines still inside a client call; Close waits for them (up
	// to closeWait), since the client does not allow closing while a call is under way.
	inflight sync.WaitGroup
}

// closeWait bounds how long Close waits for calls still running in the client, such as
// those whose caller gave up when its context ended.
const closeWait = 10 * time.Second

var _ eventstore.Store = (*Store)(nil)

// errClosed is returned by calls on a closed Store.
var errClosed = errors.New("esdb: store is closed")

// Option configures Open.
type Option func(*esdbclient.Configuration)

// WithLogger sends the client's log lines to l (at its debug, info, warn and error levels).
// By default they are discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *esdbclient.Configuration) {
		c.Logger = func(level esdbclient.LogLevel, format string, args ...any) {
			lv := slog.LevelDebug
			switch level {
			case esdbclient.LogInfo:
				lv = slog.LevelInfo
			case esdbclient.LogWarn:
				lv = slog.LevelWarn
			case esdbclient.LogError:
				lv = slog.LevelError
			}
			l.Log(context.Background(), lv, "eventstoredb client: "+fmt.Sprintf(format, args...))
		}
	}
}

// Open connects to the EventStoreDB named by url, a connection string such as
// "esdb://127.0.0.1:2113?tls=false" (see the client's ParseConnectionString), and checks
// that the node answers a read of $all. A malformed url gives an error wrapping
// eventstore.ErrInvalid; a node that does not answer before ctx ends or the client gives up
// discovery, one wrapping eventstore.ErrUnavailable (or ctx.Err()).
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("esdb: connection string: %w: %w", eventstore.ErrInvalid, err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	for _, o := range opts {
		o(cfg)
	}
	s := &Store{cfg: *cfg}
	s.client, err = s.newClient()
	if err != nil {
		return nil, err
	}
	if _, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1}); err != nil {
		s.Close()
		return nil, fmt.Errorf("esdb: open %s: %w", cfg.Address, err)
	}
	return s, nil
}

func (s *Store) newClient() (*esdbclient.Client, error) {
	cfg := s.cfg
	c, err := esdbclient.NewClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: %w: %w", eventstore.ErrInvalid, err)
	}
	return c, nil
}

// Close closes the client connections. Calls made after Close fail. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	clients := append(s.retired, s.client)
	s.retired, s.client = nil, nil
	s.mu.Unlock()
	drained := make(chan struct{})
	go func() { s.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(closeWait):
	}
	s.mu.Lock()
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// current returns the client for one call, counted in inflight: the caller must call
// s.inflight.Done when the call returns.
func (s *Store) current() (*esdbclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	s.inflight.Add(1)
	return s.client, nil
}

// renew replaces c, if it is still the current client, by a new one. The client's
// connection loop exits for good when a discovery fails (the node was down for longer
// than its discovery attempts), after which every call fails with "connection closed":
// only a new client connects again. The old one is not closed before the Store is:
// closing it would make its calls still blocked on the dead loop panic.
func (s *Store) renew(c *esdbclient.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.client != c {
		return
	}
	n, err := s.newClient()
	if err != nil {
		return
	}
	s.retired = append(s.retired, c)
	s.client = n
}

// call runs fn with the current client on a goroutine of its own and returns its error,
// or ctx.Err() as soon as ctx ends: some client calls block without watching a context
// (waiting for a connection loop that has exited). A panic in the client becomes an error
// wrapping eventstore.ErrUnavailable.
func (s *Store) call(ctx context.Context, fn func(*esdbclient.Client) error) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer s.inflight.Done()
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: the EventStoreDB client panicked: %v", eventstore.ErrUnavailable, r)
			}
		}()
		done <- fn(c)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		default:
			return ctx.Err()
		}
	}
	if err != nil && clientEnded(err) {
		s.renew(c)
	}
	return err
}

// clientEnded reports whether err shows that the client's connection loop has ended.
func clientEnded(err error) bool {
	var e *esdbclient.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == esdbclient.ErrorCodeConnectionClosed || strings.Contains(e.Error(), "maximum discovery attempt count reached")
}

// unaryDeadline returns the client deadline option for a unary call under ctx: the time
// left before ctx's deadline, or nil for the client's default of 10 s.
func unaryDeadline(ctx context.Context) *time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	left := time.Until(d)
	if left <= 0 {
		left = time.Millisecond
	}
	return &left
}

// toRevision maps a port expected version to the client's expected revision.
func toRevision(e eventstore.ExpectedVersion) esdbclient.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdbclient.NoStream{}
	case e.IsStreamExists():
		return esdbclient.StreamExists{}
	}
	if v, ok := e.ExactVersion(); ok {
		return esdbclient.Revision(v - 1)
	}
	return esdbclient.Any{}
}

// toPosition maps a client position to a port position.
func toPosition(p esdbclient.Position) eventstore.Position {
	return eventstore.MakePosition(p.Commit, p.Prepare)
}

// fromPosition maps a port position to a client position.
func fromPosition(p eventstore.Position) esdbclient.Position {
	commit, prepare := p.Parts()
	return esdbclient.Position{Commit: commit, Prepare: prepare}
}

// toRecorded maps a client event to a port event.
func toRecorded(e *esdbclient.RecordedEvent) eventstore.RecordedEvent {
	out := eventstore.RecordedEvent{
		ID:       e.EventID,
		Stream:   e.StreamID,
		Version:  e.EventNumber + 1,
		Position: toPosition(e.Position),
		Type:     e.EventType,
		Data:     e.Data,
		Metadata: e.UserMetadata,
		Created:  e.CreatedDate.UTC(),
	}
	if len(out.Metadata) == 0 {
		out.Metadata = nil
	}
	return out
}

// isSystem reports whether an event is a system event, which ReadAll and Subscribe skip.
func isSystem(e *esdbclient.RecordedEvent) bool {
	return strings.HasPrefix(e.StreamID, "$") || strings.HasPrefix(e.EventType, "$")
}
