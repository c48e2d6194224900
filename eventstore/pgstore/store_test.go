package pgstore

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/pgtest"
)

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, url, Config{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
	}

	s, err := Open(ctx, url, Config{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	mustAppend(t, s, "s", eventstore.NoStream, newEvents("t.created", 1)...)
	s.Close()
	s, err = Open(ctx, url, Config{})
	if err != nil {
		t.Fatalf("reopen with events: %v", err)
	}
	defer s.Close()
	if evs, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{}); err != nil || len(evs) != 1 {
		t.Fatalf("after reopening: %d events, %v", len(evs), err)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version int
	if err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 1 {
		t.Fatalf("schema version %d, want 1", version)
	}
}

func TestNewLeavesThePoolOpen(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := testContext(t)
	s, err := New(ctx, pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "s", eventstore.NoStream, newEvents("t.created", 1)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("the caller's pool after Close: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open(testContext(t), "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=5", Config{})
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("open an address nobody listens on: got %v, want ErrUnavailable", err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	p, proxied := pgtest.NewProxy(t, pgtest.NewDatabase(t))
	proxied += "&connect_timeout=5"
	ctx := testContext(t)
	s, err := Open(ctx, proxied, Config{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, "s", eventstore.NoStream, newEvents("t.created", 1)...)
	sub, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	receiveEvent(t, sub, 10*time.Second)

	p.Cut()
	if _, err := s.Append(ctx, "s", eventstore.Any, newEvents("t.more", 1)...); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append without a database: got %v, want ErrUnavailable", err)
	}
	if _, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("read stream without a database: got %v, want ErrUnavailable", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 1}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("read all without a database: got %v, want ErrUnavailable", err)
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case _, open := <-sub.Messages():
			if open {
				continue
			}
			if err := sub.Err(); !errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("subscription without a database ended with %v, want ErrUnavailable", err)
			}
			return
		case <-timeout:
			t.Fatal("the subscription did not end without a database")
		}
	}
}
