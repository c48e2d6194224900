package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketledger/ticketledger/eventstore"
)

// failure is what an error from the client means for the port.
type failure int

const (
	failOther failure = iota
	failWrongVersion
	failDeleted
	failNotFound
	failTooLarge
	failUnavailable
)

// classify tells what a client error means. The client reports some server failures only
// as ErrorCodeUnknown around the gRPC status (a wrong expected version on delete, the
// append size limit), and reports a subscription drop as the raw gRPC error, so the status
// code and message are inspected too.
func classify(err error) failure {
	var e *esdbclient.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdbclient.ErrorCodeWrongExpectedVersion:
			return failWrongVersion
		case esdbclient.ErrorCodeStreamDeleted:
			return failDeleted
		case esdbclient.ErrorCodeResourceNotFound:
			return failNotFound
		case esdbclient.ErrorUnavailable, esdbclient.ErrorCodeDeadlineExceeded, esdbclient.ErrorCodeConnectionClosed,
			esdbclient.ErrorCodeNotLeader, esdbclient.ErrorAborted:
			return failUnavailable
		}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		msg := st.Message()
		switch st.Code() {
		case codes.FailedPrecondition:
			switch {
			case strings.Contains(msg, "WrongExpectedVersion"):
				return failWrongVersion
			case strings.Contains(msg, "is deleted"):
				return failDeleted
			}
		case codes.InvalidArgument:
			if strings.Contains(msg, "Maximum Append Size") || strings.Contains(msg, "Maximum Append Event Size") {
				return failTooLarge
			}
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal, codes.Canceled:
			return failUnavailable
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return failUnavailable
	}
	return failOther
}

// portError maps a client error to a port error; what names the call ("append to
// \"s\""). Wrong expected versions are built by the callers, which know the expectation.
func portError(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("esdb: %s: %w", what, ctx.Err())
	}
	switch classify(err) {
	case failDeleted:
		return fmt.Errorf("esdb: %s: %w", what, eventstore.ErrStreamDeleted)
	case failNotFound:
		return fmt.Errorf("esdb: %s: %w", what, eventstore.ErrStreamNotFound)
	case failTooLarge:
		return fmt.Errorf("esdb: %s: %w: %w", what, eventstore.ErrEventTooLarge, err)
	case failUnavailable:
		return fmt.Errorf("esdb: %s: %w: %w", what, eventstore.ErrUnavailable, err)
	case failWrongVersion:
		return fmt.Errorf("esdb: %s: %w: %w", what, eventstore.ErrWrongExpectedVersion, err)
	}
	return fmt.Errorf("esdb: %s: %w", what, err)
}

// appendCurrent finds the stream's revision in the client's wrong-expected-version error
// of an append: "... expecting '1' but got 'no_stream'".
var appendCurrent = regexp.MustCompile(`but got '([^']*)'`)

// deleteActual finds the stream's version in the server's wrong-expected-version status
// of a delete or tombstone: "... Expected version: 1, Actual version: -1".
var deleteActual = regexp.MustCompile(`Actual version: (-?\d+)`)

// actualVersion reads the stream's current revision out of a wrong-expected-version error
// and returns it as a port version (0: no stream), if the error tells.
func actualVersion(err error) (uint64, bool) {
	msg := err.Error()
	if m := appendCurrent.FindStringSubmatch(msg); m != nil {
		if m[1] == "no_stream" {
			return 0, true
		}
		if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			return n + 1, true
		}
		return 0, false
	}
	if m := deleteActual.FindStringSubmatch(msg); m != nil {
		n, perr := strconv.ParseInt(m[1], 10, 64)
		switch {
		case perr != nil:
			return 0, false
		case n < 0:
			return 0, true
		}
		return uint64(n) + 1, true
	}
	return 0, false
}
