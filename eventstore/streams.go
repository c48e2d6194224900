package eventstore

import (
	"context"
	"errors"
	"sync"
)

// StreamRead asks for the first Count events of Stream (0: all of them).
type StreamRead struct {
	Stream string
	Count  int
}

// StreamEvents is the answer to one StreamRead: the events, or Err, ErrStreamNotFound or
// ErrStreamDeleted, when the stream cannot be read.
type StreamEvents struct {
	Events []RecordedEvent
	Err    error
}

// StreamsReader is implemented by stores that read the starts of several streams in one
// request to their server.
type StreamsReader interface {
	// ReadStreams reads each of reads forwards from the stream's first event, as
	// ReadStream would, and answers in the order of reads. A stream that does not exist
	// or was tombstoned has the error in its answer; the error returned fails the whole
	// request (ErrInvalid, ErrUnavailable, the context's).
	ReadStreams(ctx context.Context, reads []StreamRead) ([]StreamEvents, error)
}

// readStreamsAtOnce bounds the streams ReadStreams reads at once from a store that is not
// a StreamsReader.
const readStreamsAtOnce = 8

// ReadStreams reads several streams from their start: in one request where s is a
// StreamsReader, otherwise with ReadStream, readStreamsAtOnce streams at a time. Answers
// and errors are those of StreamsReader.ReadStreams.
func ReadStreams(ctx context.Context, s Store, reads []StreamRead) ([]StreamEvents, error) {
	if sr, ok := s.(StreamsReader); ok {
		return sr.ReadStreams(ctx, reads)
	}
	out := make([]StreamEvents, len(reads))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, readStreamsAtOnce)
	)
	for i, r := range reads {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			evs, err := s.ReadStream(ctx, r.Stream, ReadStreamOptions{Count: r.Count})
			switch {
			case err == nil:
				out[i].Events = evs
			case errors.Is(err, ErrStreamNotFound), errors.Is(err, ErrStreamDeleted):
				out[i].Err = err
			default:
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
