package esdbtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// streamsService serves the Streams protocol from a database.
type streamsService struct {
	streams.UnimplementedStreamsServer
	db *database
}

// Append serves Streams/Append: an options message, then the proposed events.
func (s *streamsService) Append(srv streams.Streams_AppendServer) error {
	req, err := srv.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return status.Error(codes.InvalidArgument, "append without options")
		}
		return err
	}
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "empty stream name")
	}
	var expected expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		expected = expectation{kind: expectRevision, revision: e.Revision}
	case *streams.AppendReq_Options_NoStream:
		expected = expectation{kind: expectNoStream}
	case *streams.AppendReq_Options_Any:
		expected = expectation{kind: expectAny}
	case *streams.AppendReq_Options_StreamExists:
		expected = expectation{kind: expectStreamExists}
	default:
		return status.Error(codes.InvalidArgument, "missing expected stream revision")
	}

	var events []proposed
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		if m == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		eventType, ok := m.GetMetadata()["type"]
		if !ok {
			return missingMetadata(srv.SetTrailer, "type")
		}
		contentType, ok := m.GetMetadata()["content-type"]
		if !ok {
			return missingMetadata(srv.SetTrailer, "content-type")
		}
		id, err := parseID(m.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		size += appendSize(eventType, m.GetData(), m.GetCustomMetadata())
		if size > MaxAppendSize {
			srv.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(MaxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", MaxAppendSize)
		}
		events = append(events, proposed{
			id:          id,
			eventType:   eventType,
			contentType: contentType,
			data:        m.GetData(),
			metadata:    m.GetCustomMetadata(),
		})
	}

	written, err := s.db.appendEvents(name, expected, events)
	var wrong *errWrongVersion
	if errors.As(err, &wrong) {
		return srv.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongVersionProto(wrong),
		}})
	}
	if err != nil {
		return failure(srv.SetTrailer, "Append", err)
	}
	success := &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
		PositionOption:        &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
	}
	if len(written) > 0 {
		last := written[len(written)-1]
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision}
		success.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition:  last.position,
			PreparePosition: last.position,
		}}
	} else if cur := s.currentRevision(name); cur >= 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(cur)}
	}
	return srv.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}})
}

func (s *streamsService) currentRevision(name string) int64 {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	return s.db.streams[name].current()
}

func wrongVersionProto(w *errWrongVersion) *streams.AppendResp_WrongExpectedVersion {
	out := &streams.AppendResp_WrongExpectedVersion{}
	if w.current < 0 {
		out.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		out.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		out.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(w.current)}
		out.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(w.current)}
	}
	switch w.expected.kind {
	case expectAny:
		out.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		out.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectNoStream:
		out.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectStreamExists:
		out.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		out.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case expectRevision:
		out.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: w.expected.revision}
		out.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: w.expected.revision}
	}
	return out
}

// Delete serves Streams/Delete, a soft delete.
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	var expected expectation
	switch e := o.GetExpectedStreamRevision().(type) {
	case *streams.DeleteReq_Options_Revision:
		expected = expectation{kind: expectRevision, revision: e.Revision}
	case *streams.DeleteReq_Options_NoStream:
		expected = expectation{kind: expectNoStream}
	case *streams.DeleteReq_Options_Any:
		expected = expectation{kind: expectAny}
	case *streams.DeleteReq_Options_StreamExists:
		expected = expectation{kind: expectStreamExists}
	default:
		return nil, status.Error(codes.InvalidArgument, "missing expected stream revision")
	}
	pos, err := s.db.deleteStream(string(o.GetStreamIdentifier().GetStreamName()), expected, false)
	if err != nil {
		return nil, failure(unaryTrailer(ctx), "Delete", err)
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{
		Position: &streams.DeleteResp_Position{CommitPosition: pos, PreparePosition: pos},
	}}, nil
}

// Tombstone serves Streams/Tombstone, a hard delete.
func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	var expected expectation
	switch e := o.GetExpectedStreamRevision().(type) {
	case *streams.TombstoneReq_Options_Revision:
		expected = expectation{kind: expectRevision, revision: e.Revision}
	case *streams.TombstoneReq_Options_NoStream:
		expected = expectation{kind: expectNoStream}
	case *streams.TombstoneReq_Options_Any:
		expected = expectation{kind: expectAny}
	case *streams.TombstoneReq_Options_StreamExists:
		expected = expectation{kind: expectStreamExists}
	default:
		return nil, status.Error(codes.InvalidArgument, "missing expected stream revision")
	}
	pos, err := s.db.deleteStream(string(o.GetStreamIdentifier().GetStreamName()), expected, true)
	if err != nil {
		return nil, failure(unaryTrailer(ctx), "Delete", err)
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{
		Position: &streams.TombstoneResp_Position{CommitPosition: pos, PreparePosition: pos},
	}}, nil
}

func unaryTrailer(ctx context.Context) func(metadata.MD) {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}

// failure turns a database error into the status and trailers an EventStoreDB node sends.
// op names the operation in the message ("Append", "Delete").
func failure(setTrailer func(metadata.MD), op string, err error) error {
	var deleted *errStreamDeleted
	var wrong *errWrongVersion
	switch {
	case errors.As(err, &deleted):
		setTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", deleted.stream))
		return status.Error(codes.FailedPrecondition, deleted.Error())
	case errors.As(err, &wrong):
		setTrailer(metadata.Pairs(
			"exception", "wrong-expected-version",
			"stream-name", wrong.stream,
			"expected-version", strconv.FormatInt(wrong.expected.wire(), 10),
			"actual-version", strconv.FormatInt(wrong.current, 10),
		))
		return status.Error(codes.FailedPrecondition, op+" failed due to "+wrong.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func missingMetadata(setTrailer func(metadata.MD), key string) error {
	setTrailer(metadata.Pairs("exception", "missing-required-metadata-property", "required-metadata-properties", key))
	return status.Errorf(codes.InvalidArgument, "Required Metadata Property '%s' is missing", key)
}

// Read serves Streams/Read: stream and $all reads, and subscriptions to a stream or $all.
func (s *streamsService) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read without options")
	}
	w := writer{srv: srv, structured: o.GetUuidOption().GetString_() == nil}
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	subscription := o.GetSubscription() != nil
	if !subscription {
		if _, ok := o.GetCountOption().(*streams.ReadReq_Options_Count); !ok {
			return status.Error(codes.InvalidArgument, "read without count or subscription")
		}
	}
	switch so := o.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		if subscription {
			return s.subscribeStream(srv.Context(), w, so.Stream)
		}
		return s.readStream(w, so.Stream, backwards, o.GetCount())
	case *streams.ReadReq_Options_All:
		f, err := newFilter(o)
		if err != nil {
			return err
		}
		if subscription {
			return s.subscribeAll(srv.Context(), w, so.All, f)
		}
		return s.readAll(w, so.All, backwards, o.GetCount(), f)
	}
	return status.Error(codes.InvalidArgument, "read without stream or $all")
}

func (s *streamsService) readStream(w writer, o *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	recs, tombstoned, _ := s.db.streamSnapshot(name)
	if tombstoned {
		return failure(w.srv.SetTrailer, "Read", &errStreamDeleted{stream: name})
	}
	if len(recs) == 0 {
		return w.srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
			StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}},
		}})
	}
	atOrAfter := func(rev uint64) int {
		return sort.Search(len(recs), func(i int) bool { return recs[i].revision >= rev })
	}
	if !backwards {
		i := 0
		switch r := o.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			i = atOrAfter(r.Revision)
		case *streams.ReadReq_Options_StreamOptions_End:
			i = len(recs)
		}
		for n := uint64(0); i < len(recs) && n < count; i, n = i+1, n+1 {
			if err := w.event(recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	i := len(recs) - 1
	switch r := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		if r.Revision < recs[len(recs)-1].revision {
			i = atOrAfter(r.Revision+1) - 1
		}
	case *streams.ReadReq_Options_StreamOptions_Start:
		i = atOrAfter(1) - 1
	}
	for n := uint64(0); i >= 0 && n < count; i, n = i-1, n+1 {
		if err := w.event(recs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamsService) readAll(w writer, o *streams.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter) error {
	log, _ := s.db.logSnapshot()
	send := func(r *record) (bool, error) {
		if !f.match(r) {
			return false, nil
		}
		return true, w.event(r)
	}
	if !backwards {
		i := 0
		switch p := o.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			i = firstAtOrAfter(log, p.Position.GetCommitPosition())
		case *streams.ReadReq_Options_AllOptions_End:
			i = len(log)
		}
		for n := uint64(0); i < len(log) && n < count; i++ {
			sent, err := send(log[i])
			if err != nil {
				return err
			}
			if sent {
				n++
			}
		}
		return nil
	}
	i := len(log) - 1
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		i = firstAtOrAfter(log, p.Position.GetCommitPosition()) - 1
	case *streams.ReadReq_Options_AllOptions_Start:
		i = -1
	}
	for n := uint64(0); i >= 0 && n < count; i-- {
		sent, err := send(log[i])
		if err != nil {
			return err
		}
		if sent {
			n++
		}
	}
	return nil
}

// writer sends read responses.
type writer struct {
	srv        streams.Streams_ReadServer
	structured bool
}

func (w writer) event(r *record) error {
	id := &shared.UUID{Value: &shared.UUID_String_{String_: r.id.String()}}
	if w.structured {
		id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits:  int64(binary.BigEndian.Uint64(r.id[:8])),
			LeastSignificantBits: int64(binary.BigEndian.Uint64(r.id[8:])),
		}}}
	}
	return w.srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata: map[string]string{
				"type":         r.eventType,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.metadata,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}})
}

func (w writer) confirmation() error {
	return w.srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}})
}

func (w writer) checkpoint(p uint64) error {
	return w.srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{
		Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: p, PreparePosition: p},
	}})
}

func (w writer) caughtUp() error {
	return w.srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
}

// parseID reads a structured or string UUID.
func parseID(u *shared.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case *shared.UUID_Structured_:
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return id, nil
	case *shared.UUID_String_:
		id, err := uuid.Parse(v.String_)
		if err != nil {
			return uuid.Nil, fmt.Errorf("event id %q: %w", v.String_, err)
		}
		return id, nil
	}
	return uuid.Nil, errors.New("missing event id")
}
