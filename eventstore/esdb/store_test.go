package esdb_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/eventstore/esdb"
	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func event(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{"k":1}`), Metadata: []byte(`{"actor":"test"}`)}
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(ctxFor(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return r
}

func TestOpenRejectsAMalformedURL(t *testing.T) {
	_, err := esdb.Open(ctxFor(t), "postgres://nope")
	if !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestOpenFailsWhenTheNodeIsDown(t *testing.T) {
	srv := esdbtest.Start(t)
	srv.Stop()
	_, err := esdb.Open(ctxFor(t), srv.URL())
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestVersionsAndPositions(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	r := mustAppend(t, s, "ticket-1", eventstore.Exact(0), event("ticket.submitted"), event("ticket.approved"))
	commit, prepare := r.Position.Parts()
	if r.Version != 2 || commit == 0 || commit != prepare {
		t.Fatalf("append result %+v", r)
	}
	evs, err := s.ReadStream(ctxFor(t), "ticket-1", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Version != 1 || evs[1].Version != 2 || evs[1].Position != r.Position {
		t.Fatalf("read %+v", evs)
	}
	if string(evs[0].Metadata) != `{"actor":"test"}` || evs[0].Created.Location() != time.UTC {
		t.Fatalf("metadata %q, created %v", evs[0].Metadata, evs[0].Created)
	}
	_, err = s.Append(ctxFor(t), "ticket-1", eventstore.Exact(1), event("ticket.rejected"))
	var wv *eventstore.WrongVersionError
	if !errors.As(err, &wv) || !wv.ActualKnown || wv.Actual != 2 || wv.Stream != "ticket-1" {
		t.Fatalf("got %v, want a wrong version error with actual 2", err)
	}
}

func TestReadAllAndSubscribeSkipSystemEvents(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	mustAppend(t, s, "ticket-1", eventstore.NoStream, event("ticket.submitted"))
	if err := s.Tombstone(ctxFor(t), "ticket-1", eventstore.Exact(1)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "ticket-2", eventstore.NoStream, event("ticket.submitted"))

	all, err := s.ReadAll(ctxFor(t), eventstore.ReadAllOptions{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Stream != "ticket-1" || all[1].Stream != "ticket-2" {
		t.Fatalf("read all gave %+v, want the two user events only", all)
	}
	back, err := s.ReadAll(ctxFor(t), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: all[1].Position, Count: 1})
	if err != nil || len(back) != 1 || back[0].ID != all[0].ID {
		t.Fatalf("read backwards across the tombstone: %+v (%v)", back, err)
	}

	sub, err := s.Subscribe(ctxFor(t), eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	for m := range sub.Messages() {
		if m.Kind == eventstore.EventMessage {
			got = append(got, m.Event.Stream+"/"+m.Event.Type)
		}
		if m.Kind == eventstore.CaughtUpMessage {
			break
		}
	}
	if strings.Join(got, " ") != "ticket-1/ticket.submitted ticket-2/ticket.submitted" {
		t.Fatalf("subscription delivered %v", got)
	}
}

func TestSubscribeAppliesBothFilterParts(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	mustAppend(t, s, "ticket-1", eventstore.NoStream, event("ticket.submitted"), event("ticket.commented"))
	mustAppend(t, s, "process-1", eventstore.NoStream, event("ticket.submitted"))
	sub, err := s.Subscribe(ctxFor(t), eventstore.Start, eventstore.Filter{
		StreamPrefixes: []string{"ticket-"},
		TypePrefixes:   []string{"ticket.sub"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	var last eventstore.Position
	for m := range sub.Messages() {
		if m.Position.Before(last) {
			t.Fatalf("%v message at %s after %s", m.Kind, m.Position, last)
		}
		last = m.Position
		if m.Kind == eventstore.EventMessage {
			got = append(got, m.Event.Stream+"/"+m.Event.Type)
		}
		if m.Kind == eventstore.CaughtUpMessage {
			break
		}
	}
	if strings.Join(got, " ") != "ticket-1/ticket.submitted" {
		t.Fatalf("subscription delivered %v", got)
	}
}

func TestTombstoneErrors(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	ctx := ctxFor(t)
	for _, exp := range []eventstore.ExpectedVersion{eventstore.Exact(1), eventstore.StreamExists} {
		if err := s.Tombstone(ctx, "never", exp); !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Errorf("tombstone a stream that never existed at %s: %v, want ErrStreamNotFound", exp, err)
		}
	}
	if err := s.Tombstone(ctx, "never-2", eventstore.NoStream); err != nil {
		t.Errorf("tombstone a stream that never existed at no stream: %v", err)
	}
	mustAppend(t, s, "t", eventstore.NoStream, event("a"), event("b"))
	err := s.Tombstone(ctx, "t", eventstore.NoStream)
	var wv *eventstore.WrongVersionError
	if !errors.As(err, &wv) || !wv.ActualKnown || wv.Actual != 2 {
		t.Fatalf("tombstone at no stream of a stream at 2: %v", err)
	}
	if err := s.Tombstone(ctx, "t", eventstore.Exact(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "t", eventstore.Any, event("c")); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("append to a tombstoned stream: %v", err)
	}
	if _, err := s.ReadStream(ctx, "t", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("read a tombstoned stream: %v", err)
	}
	if err := s.Tombstone(ctx, "t", eventstore.Exact(2)); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("tombstone twice: %v", err)
	}
}

func TestTooLargeAsTheServerCountsIt(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	typ := "ticket.attachment-added"
	data := make([]byte, eventstore.MaxAppendSize-len(typ))
	for i := range data {
		data[i] = 'x'
	}
	data[0], data[len(data)-1] = '"', '"'
	_, err := s.Append(ctxFor(t), "big", eventstore.Any, eventstore.EventData{Type: typ, Data: data})
	if !errors.Is(err, eventstore.ErrEventTooLarge) || !strings.Contains(err.Error(), "big") {
		t.Fatalf("append at the port's limit but over the server's: %v, want ErrEventTooLarge naming the stream", err)
	}
	data = data[:len(data)-len(typ)]
	data[len(data)-1] = '"'
	if _, err := s.Append(ctxFor(t), "big", eventstore.Any, eventstore.EventData{Type: typ, Data: data}); err != nil {
		t.Fatalf("append at the server's limit: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "c", eventstore.Any, event("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("append: %v", err)
	}
	if _, err := s.ReadStream(ctx, "c", eventstore.ReadStreamOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("read stream: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Count: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("read all: %v", err)
	}
	if err := s.Tombstone(ctx, "c", eventstore.Any); !errors.Is(err, context.Canceled) {
		t.Errorf("tombstone: %v", err)
	}

	subCtx, subCancel := context.WithCancel(context.Background())
	sub, err := s.Subscribe(subCtx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	subCancel()
	for range sub.Messages() {
	}
	if err := sub.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("subscription ended by its context: Err %v", err)
	}
	if err := sub.Close(); err != nil || sub.Close() != nil {
		t.Errorf("close after the end: %v", err)
	}
}

func TestSubscriptionCloseIsQuiet(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	for range 100 {
		mustAppend(t, s, "many", eventstore.Any, event("a"))
	}
	sub, err := s.Subscribe(ctxFor(t), eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.Messages()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.Close()
	}()
	sub.Close()
	<-done
	if _, ok := <-sub.Messages(); ok {
		for range sub.Messages() {
		}
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	mustAppend(t, s, "u", eventstore.NoStream, event("a"))
	sub, err := s.Subscribe(ctxFor(t), eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for m := range sub.Messages() {
		if m.Kind == eventstore.CaughtUpMessage {
			break
		}
	}

	srv.Stop()
	for m := range sub.Messages() {
		t.Fatalf("message after the node stopped: %+v", m)
	}
	if err := sub.Err(); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("subscription Err after the node stopped: %v, want ErrUnavailable", err)
	}
	for i := range 3 {
		_, err := s.Append(ctxFor(t), "u", eventstore.Any, event("b"))
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("append %d while the node is down: %v, want ErrUnavailable", i, err)
		}
		if _, err := s.ReadStream(ctxFor(t), "u", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("read %d while the node is down: %v, want ErrUnavailable", i, err)
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "u", eventstore.Any, event("b")); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append with a short deadline while the node is down: %v", err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := s.Append(ctxFor(t), "u", eventstore.Any, event("c"))
		if err == nil {
			break
		}
		if !errors.Is(err, eventstore.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("append after the node came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs, err := s.ReadStream(ctxFor(t), "u", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("read after recovery: %d events (%v), want 2", len(evs), err)
	}
}

func TestClosedStore(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.URL())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Append(ctxFor(t), "x", eventstore.Any, event("a")); err == nil {
		t.Fatal("append on a closed store succeeded")
	}
}
