package esdbtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ticketledger/ticketledger/eventstore/esdb/esdbtest"
)

func newClient(t *testing.T, s *esdbtest.Server) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func events(typ string, n int) []esdb.EventData {
	out := make([]esdb.EventData, n)
	for i := range out {
		out[i] = esdb.EventData{
			EventID:     uuid.New(),
			EventType:   typ,
			ContentType: esdb.ContentTypeJson,
			Data:        []byte(`{"n":` + string(rune('0'+i%10)) + `}`),
			Metadata:    []byte(`{"m":true}`),
		}
	}
	return out
}

func appendTo(t *testing.T, c *esdb.Client, stream string, exp esdb.ExpectedRevision, evs ...esdb.EventData) *esdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(testCtx(t), stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

func readAllOf(t *testing.T, rs *esdb.ReadStream, err error) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	if err != nil {
		t.Fatalf("open read: %v", err)
	}
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(testCtx(t), stream, opts, count)
	return readAllOf(t, rs, err)
}

func revisions(evs []*esdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Event.EventNumber
	}
	return out
}

func equal(a []uint64, b ...uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func code(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func TestServerFeatures(t *testing.T) {
	s := esdbtest.Start(t)
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := serverfeatures.NewServerFeaturesClient(conn).GetSupportedMethods(testCtx(t), &shared.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if got.EventStoreServerVersion != esdbtest.ServerVersion {
		t.Errorf("version %q, want %q", got.EventStoreServerVersion, esdbtest.ServerVersion)
	}
	for _, m := range got.Methods {
		if m.MethodName == "batchappend" || strings.Contains(m.ServiceName, "persistent") {
			t.Errorf("advertises %s/%s, which the double does not serve", m.ServiceName, m.MethodName)
		}
	}
}

func TestAppendAndReadStream(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	evs := events("thing-happened", 3)
	before := time.Now().Add(-time.Second)
	res := appendTo(t, c, "orders-1", esdb.NoStream{}, evs...)
	if res.NextExpectedVersion != 2 || res.CommitPosition == 0 || res.CommitPosition != res.PreparePosition {
		t.Fatalf("write result %+v, want revision 2 and a position > 0 with commit == prepare", res)
	}

	got, err := readStream(t, c, "orders-1", esdb.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(revisions(got), 0, 1, 2) {
		t.Fatalf("forwards revisions %v", revisions(got))
	}
	for i, e := range got {
		r := e.Event
		if r.EventID != evs[i].EventID || r.EventType != "thing-happened" || r.ContentType != "application/json" ||
			string(r.Data) != string(evs[i].Data) || string(r.UserMetadata) != `{"m":true}` || r.StreamID != "orders-1" {
			t.Errorf("event %d: %+v", i, r)
		}
		if r.CreatedDate.Before(before) || r.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d created %v", i, r.CreatedDate)
		}
		if i > 0 && r.Position.Commit <= got[i-1].Event.Position.Commit {
			t.Errorf("positions do not increase: %v after %v", r.Position, got[i-1].Event.Position)
		}
	}
	if got[2].Event.Position.Commit != res.CommitPosition {
		t.Errorf("last event at %v, append reported %d", got[2].Event.Position, res.CommitPosition)
	}

	cases := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"from revision inclusive", esdb.ReadStreamOptions{From: esdb.Revision(1)}, 100, []uint64{1, 2}},
		{"count", esdb.ReadStreamOptions{}, 2, []uint64{0, 1}},
		{"backwards from end", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100, []uint64{2, 1, 0}},
		{"backwards from revision inclusive", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 100, []uint64{1, 0}},
		{"backwards count", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1, []uint64{2}},
		{"past the end", esdb.ReadStreamOptions{From: esdb.Revision(7)}, 100, []uint64{}},
	}
	for _, tc := range cases {
		got, err := readStream(t, c, "orders-1", tc.opts, tc.count)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !equal(revisions(got), tc.want...) {
			t.Errorf("%s: revisions %v, want %v", tc.name, revisions(got), tc.want)
		}
	}
}

func TestStreamNotFoundIsReportedOnRecv(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	rs, err := c.ReadStream(testCtx(t), "missing", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatalf("ReadStream itself failed: %v", err)
	}
	defer rs.Close()
	_, err = rs.Recv()
	if code(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("Recv error %v, want ErrorCodeResourceNotFound", err)
	}
}

func TestExpectedRevisions(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "s", esdb.NoStream{}, events("e", 2)...)
	cases := []struct {
		name    string
		stream  string
		exp     esdb.ExpectedRevision
		wantErr bool
		current string
	}{
		{"no stream on existing", "s", esdb.NoStream{}, true, "'1'"},
		{"wrong revision", "s", esdb.Revision(0), true, "'1'"},
		{"revision ahead", "s", esdb.Revision(5), true, "'1'"},
		{"stream exists on missing", "nope", esdb.StreamExists{}, true, "'no_stream'"},
		{"revision on missing", "nope2", esdb.Revision(0), true, "'no_stream'"},
		{"right revision", "s", esdb.Revision(1), false, ""},
		{"stream exists", "s", esdb.StreamExists{}, false, ""},
		{"any", "s", esdb.Any{}, false, ""},
		{"any on missing", "fresh", esdb.Any{}, false, ""},
	}
	for _, tc := range cases {
		_, err := c.AppendToStream(testCtx(t), tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.exp}, events("e", 1)...)
		if !tc.wantErr {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if code(err) != esdb.ErrorCodeWrongExpectedVersion || !strings.Contains(err.Error(), "got "+tc.current) {
			t.Errorf("%s: error %v, want wrong expected version with current %s", tc.name, err, tc.current)
		}
	}
}

func TestIdempotentAppend(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	first := events("e", 2)
	orig := appendTo(t, c, "idem", esdb.NoStream{}, first...)
	appendTo(t, c, "idem", esdb.Revision(1), events("e", 1)...)

	again := appendTo(t, c, "idem", esdb.NoStream{}, first...)
	if *again != *orig {
		t.Errorf("idempotent retry returned %+v, want the original %+v", again, orig)
	}
	againAny := appendTo(t, c, "idem", esdb.Any{}, first...)
	if *againAny != *orig {
		t.Errorf("idempotent retry with Any returned %+v, want %+v", againAny, orig)
	}
	againExists := appendTo(t, c, "idem", esdb.StreamExists{}, first...)
	if *againExists != *orig {
		t.Errorf("idempotent retry with StreamExists returned %+v, want %+v", againExists, orig)
	}
	partial := append([]esdb.EventData{first[0]}, events("e", 1)...)
	if _, err := c.AppendToStream(testCtx(t), "idem", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, partial...); code(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Errorf("partial match: %v, want wrong expected version", err)
	}
	if _, err := c.AppendToStream(testCtx(t), "idem", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, partial...); code(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Errorf("partial match with Any: %v, want wrong expected version", err)
	}
	got, err := readStream(t, c, "idem", esdb.ReadStreamOptions{}, 100)
	if err != nil || len(got) != 3 {
		t.Fatalf("stream holds %d events (%v), want 3", len(got), err)
	}
}

func TestMaxAppendSize(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	big := esdb.EventData{EventType: "big", ContentType: esdb.ContentTypeBinary, Data: make([]byte, esdbtest.MaxAppendSize)}
	_, err := c.AppendToStream(testCtx(t), "big", esdb.AppendToStreamOptions{}, big)
	if err == nil {
		t.Fatal("oversized append succeeded")
	}
	st, _ := status.FromError(errors.Unwrap(err))
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "Maximum Append Size of 1048576 Exceeded") {
		if !errors.Is(err, io.EOF) {
			t.Errorf("error %v, want InvalidArgument Maximum Append Size (or EOF on send)", err)
		}
	}
	fits := esdb.EventData{EventType: "big", ContentType: esdb.ContentTypeBinary, Data: make([]byte, esdbtest.MaxAppendSize-6)}
	if _, err := c.AppendToStream(testCtx(t), "big", esdb.AppendToStreamOptions{}, fits); err != nil {
		t.Errorf("append of exactly the limit: %v", err)
	}
}

func TestReadAll(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "a", esdb.NoStream{}, events("e", 2)...)
	appendTo(t, c, "b", esdb.NoStream{}, events("e", 2)...)

	rs, err := c.ReadAll(testCtx(t), esdb.ReadAllOptions{}, 1000)
	all, err := readAllOf(t, rs, err)
	if err != nil {
		t.Fatal(err)
	}
	system := 0
	for i, e := range all {
		if strings.HasPrefix(e.Event.StreamID, "$") || strings.HasPrefix(e.Event.EventType, "$") {
			system++
		}
		p := e.Event.Position
		if p.Commit == 0 || p.Commit != p.Prepare || (i > 0 && p.Commit <= all[i-1].Event.Position.Commit) {
			t.Fatalf("event %d at %v after %v", i, p, all[max(i-1, 0)].Event.Position)
		}
	}
	if system == 0 || len(all) != system+4 {
		t.Fatalf("$all holds %d events of which %d system events", len(all), system)
	}

	mid := all[len(all)-3].Event.Position
	rs, err = c.ReadAll(testCtx(t), esdb.ReadAllOptions{From: mid}, 1000)
	fwd, err := readAllOf(t, rs, err)
	if err != nil || len(fwd) != 3 || fwd[0].Event.Position != mid {
		t.Fatalf("forwards from %v: %d events (%v), want 3 starting at it", mid, len(fwd), err)
	}
	rs, err = c.ReadAll(testCtx(t), esdb.ReadAllOptions{Direction: esdb.Backwards, From: mid}, 2)
	back, err := readAllOf(t, rs, err)
	if err != nil || len(back) != 2 || back[0].Event.Position != all[len(all)-4].Event.Position {
		t.Fatalf("backwards from %v: %v (%v), want the two events before it", mid, back, err)
	}
	rs, err = c.ReadAll(testCtx(t), esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	last, err := readAllOf(t, rs, err)
	if err != nil || len(last) != 1 || last[0].Event.Position != all[len(all)-1].Event.Position {
		t.Fatalf("backwards from the end: %v (%v)", last, err)
	}
}

// collect receives subscription events until stop returns true, failing after a timeout.
func collect(t *testing.T, sub *esdb.Subscription, stop func(*esdb.SubscriptionEvent) bool) []*esdb.SubscriptionEvent {
	t.Helper()
	type result struct{ ev *esdb.SubscriptionEvent }
	var out []*esdb.SubscriptionEvent
	for {
		ch := make(chan result, 1)
		go func() { ch <- result{sub.Recv()} }()
		select {
		case r := <-ch:
			if r.ev.SubscriptionDropped != nil {
				t.Fatalf("subscription dropped: %v", r.ev.SubscriptionDropped.Error)
			}
			out = append(out, r.ev)
			if stop(r.ev) {
				return out
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no subscription message in 10s after %d", len(out))
		}
	}
}

func TestSubscribeToAllFiltered(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "keep-1", esdb.NoStream{}, events("e", 3)...)
	appendTo(t, c, "skip-1", esdb.NoStream{}, events("e", 40)...)
	appendTo(t, c, "keep-2", esdb.NoStream{}, events("e", 1)...)

	sub, err := c.SubscribeToAll(testCtx(t), esdb.SubscribeToAllOptions{
		From:   esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"keep-"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := collect(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.CaughtUp != nil })
	var got []string
	var checkpoints []esdb.Position
	var lastEvent esdb.Position
	for _, m := range msgs {
		switch {
		case m.EventAppeared != nil:
			got = append(got, m.EventAppeared.Event.StreamID)
			lastEvent = m.EventAppeared.Event.Position
		case m.CheckPointReached != nil:
			checkpoints = append(checkpoints, *m.CheckPointReached)
		}
	}
	if strings.Join(got, " ") != "keep-1 keep-1 keep-1 keep-2" {
		t.Fatalf("catch-up delivered %v", got)
	}
	if len(checkpoints) < 2 {
		t.Fatalf("got %d checkpoints over 46 events scanned with a window of 32, want at least 2", len(checkpoints))
	}
	if end := checkpoints[len(checkpoints)-1]; end.Commit < lastEvent.Commit {
		t.Errorf("the end-of-catch-up checkpoint %v is before the last event %v", end, lastEvent)
	}

	appendTo(t, c, "skip-2", esdb.NoStream{}, events("e", 1)...)
	appendTo(t, c, "keep-3", esdb.NoStream{}, events("e", 1)...)
	live := collect(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.EventAppeared != nil })
	ev := live[len(live)-1].EventAppeared.Event
	if ev.StreamID != "keep-3" {
		t.Fatalf("live event from %s, want keep-3", ev.StreamID)
	}

	resumed, err := c.SubscribeToAll(testCtx(t), esdb.SubscribeToAllOptions{
		From:   lastEvent,
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^[^$]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	msgs = collect(t, resumed, func(e *esdb.SubscriptionEvent) bool { return e.CaughtUp != nil })
	got = got[:0]
	for _, m := range msgs {
		if m.EventAppeared != nil {
			got = append(got, m.EventAppeared.Event.StreamID)
		}
	}
	if strings.Join(got, " ") != "skip-2 keep-3" {
		t.Fatalf("resumed after keep-2 (exclusive) with a type regex: %v", got)
	}
}

func TestSubscribeToStream(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "subs", esdb.NoStream{}, events("e", 3)...)
	sub, err := c.SubscribeToStream(testCtx(t), "subs", esdb.SubscribeToStreamOptions{From: esdb.Revision(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := collect(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.CaughtUp != nil })
	var revs []uint64
	for _, m := range msgs {
		if m.CheckPointReached != nil {
			t.Fatal("checkpoint on an unfiltered stream subscription")
		}
		if m.EventAppeared != nil {
			revs = append(revs, m.EventAppeared.Event.EventNumber)
		}
	}
	if !equal(revs, 1, 2) {
		t.Fatalf("catch-up from revision 0 (exclusive) delivered %v", revs)
	}
	appendTo(t, c, "subs", esdb.Revision(2), events("e", 1)...)
	live := collect(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.EventAppeared != nil })
	if n := live[0].EventAppeared.Event.EventNumber; n != 3 {
		t.Fatalf("live revision %d, want 3", n)
	}
}

func TestDeleteAndTombstone(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "soft", esdb.NoStream{}, events("e", 2)...)

	_, err := c.DeleteStream(testCtx(t), "soft", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(0)})
	st, _ := status.FromError(errors.Unwrap(err))
	if code(err) != esdb.ErrorCodeUnknown || st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "WrongExpectedVersion") {
		t.Fatalf("delete at the wrong revision: %v", err)
	}
	if _, err := c.DeleteStream(testCtx(t), "soft", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := readStream(t, c, "soft", esdb.ReadStreamOptions{}, 10); code(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read after soft delete: %v, want not found", err)
	}
	res := appendTo(t, c, "soft", esdb.NoStream{}, events("e", 1)...)
	if res.NextExpectedVersion != 2 {
		t.Fatalf("recreated stream at revision %d, want 2 (revisions continue)", res.NextExpectedVersion)
	}
	got, err := readStream(t, c, "soft", esdb.ReadStreamOptions{}, 10)
	if err != nil || !equal(revisions(got), 2) {
		t.Fatalf("read after recreation: %v (%v)", revisions(got), err)
	}

	if _, err := c.TombstoneStream(testCtx(t), "soft", esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(testCtx(t), "soft", esdb.AppendToStreamOptions{}, events("e", 1)...); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("append to a tombstoned stream: %v", err)
	}
	if _, err := readStream(t, c, "soft", esdb.ReadStreamOptions{}, 10); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("read of a tombstoned stream: %v", err)
	}
	if _, err := c.TombstoneStream(testCtx(t), "soft", esdb.TombstoneStreamOptions{}); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("second tombstone: %v", err)
	}
	_, err = c.TombstoneStream(testCtx(t), "never", esdb.TombstoneStreamOptions{ExpectedRevision: esdb.StreamExists{}})
	if st, _ := status.FromError(errors.Unwrap(err)); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "Actual version: -1") {
		t.Fatalf("tombstone of a missing stream expecting it to exist: %v", err)
	}

	rs, err := c.ReadAll(testCtx(t), esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	last, err := readAllOf(t, rs, err)
	if err != nil || len(last) != 1 || last[0].Event.EventType != "$streamDeleted" || last[0].Event.StreamID != "soft" {
		t.Fatalf("the tombstone is not the last event of $all: %v (%v)", last, err)
	}
}

func TestStopAndRestart(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	appendTo(t, c, "durable", esdb.NoStream{}, events("e", 1)...)
	sub, err := c.SubscribeToAll(testCtx(t), esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	collect(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.CaughtUp != nil })

	s.Stop()
	if ev := sub.Recv(); ev.SubscriptionDropped == nil || status.Code(ev.SubscriptionDropped.Error) != codes.Unavailable {
		t.Fatalf("subscription after Stop: %+v", ev)
	}
	_, err = c.AppendToStream(testCtx(t), "durable", esdb.AppendToStreamOptions{}, events("e", 1)...)
	if code(err) != esdb.ErrorUnavailable {
		t.Fatalf("append after Stop: %v, want unavailable", err)
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, s)
	got, err := readStream(t, c2, "durable", esdb.ReadStreamOptions{}, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("read after Restart: %d events (%v)", len(got), err)
	}
}

func TestSlowSubscriberDoesNotBlockAppends(t *testing.T) {
	s := esdbtest.Start(t)
	c := newClient(t, s)
	sub, err := c.SubscribeToAll(testCtx(t), esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pad := strings.Repeat("x", 16<<10)
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			ev := esdb.EventData{EventType: "e", ContentType: esdb.ContentTypeJson, Data: []byte(`"` + pad + `"`)}
			if _, err := c.AppendToStream(testCtx(t), "slow", esdb.AppendToStreamOptions{}, ev); err != nil {
				done <- fmt.Errorf("append %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("appends stalled behind a subscriber that does not read")
	}
	n := 0
	for n < 200 {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			t.Fatalf("dropped: %v", ev.SubscriptionDropped.Error)
		}
		if ev.EventAppeared != nil && ev.EventAppeared.Event.StreamID == "slow" {
			n++
		}
	}
}
