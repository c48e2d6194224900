package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ticketledger/ticketledger/eventstore"
)

// readPageLimit bounds the events asked for in one $all read.
const readPageLimit = 4096

// ReadStream implements eventstore.Store. A soft-deleted stream (deleted by another
// EventStoreDB client) reads as eventstore.ErrStreamNotFound.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.CheckStreamName(stream); err != nil {
		return nil, err
	}
	if opts.Count < 0 {
		return nil, fmt.Errorf("%w: read %q: negative count %d", eventstore.ErrInvalid, stream, opts.Count)
	}
	ro := esdbclient.ReadStreamOptions{}
	switch opts.Direction {
	case eventstore.Forwards:
		ro.Direction, ro.From = esdbclient.Forwards, esdbclient.Start{}
	case eventstore.Backwards:
		ro.Direction, ro.From = esdbclient.Backwards, esdbclient.End{}
	default:
		return nil, fmt.Errorf("%w: read %q: direction %d", eventstore.ErrInvalid, stream, opts.Direction)
	}
	if opts.From > 0 {
		ro.From = esdbclient.Revision(opts.From - 1)
	}
	count := uint64(math.MaxInt64)
	if opts.Count > 0 {
		count = uint64(opts.Count)
	}
	var out []eventstore.RecordedEvent
	err := s.call(ctx, func(c *esdbclient.Client) error {
		out = out[:0]
		return readEach(ctx, c, func(c *esdbclient.Client) (*esdbclient.ReadStream, error) {
			return c.ReadStream(ctx, stream, ro, count)
		}, func(e *esdbclient.RecordedEvent) {
			out = append(out, toRecorded(e))
		})
	})
	if err != nil {
		return nil, portError(ctx, fmt.Sprintf("read %q", stream), err)
	}
	return out, nil
}

// readEach opens a read with open and calls fn with each event until the end.
func readEach(ctx context.Context, c *esdbclient.Client, open func(*esdbclient.Client) (*esdbclient.ReadStream, error), fn func(*esdbclient.RecordedEvent)) error {
	rs, err := open(c)
	if err != nil {
		return err
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		if err != nil {
			return err
		}
		fn(ev.OriginalEvent())
	}
}

// ReadAll implements eventstore.Store. System events are skipped; the reads continue
// past them until opts.Count events are found or the log ends.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	if opts.Count <= 0 {
		return nil, fmt.Errorf("%w: read $all: count %d is not positive", eventstore.ErrInvalid, opts.Count)
	}
	var dir esdbclient.Direction
	switch opts.Direction {
	case eventstore.Forwards:
		dir = esdbclient.Forwards
	case eventstore.Backwards:
		dir = esdbclient.Backwards
	default:
		return nil, fmt.Errorf("%w: read $all: direction %d", eventstore.ErrInvalid, opts.Direction)
	}
	out := make([]eventstore.RecordedEvent, 0, min(opts.Count, readPageLimit))
	from := opts.From
	for len(out) < opts.Count {
		ro := esdbclient.ReadAllOptions{Direction: dir}
		switch {
		case !from.IsZero():
			ro.From = fromPosition(from)
		case dir == esdbclient.Backwards:
			ro.From = esdbclient.End{}
		default:
			ro.From = esdbclient.Start{}
		}
		ask := min(opts.Count-len(out)+1, readPageLimit)
		var page []*esdbclient.RecordedEvent
		err := s.call(ctx, func(c *esdbclient.Client) error {
			page = page[:0]
			return readEach(ctx, c, func(c *esdbclient.Client) (*esdbclient.ReadStream, error) {
				return c.ReadAll(ctx, ro, uint64(ask))
			}, func(e *esdbclient.RecordedEvent) {
				page = append(page, e)
			})
		})
		if err != nil {
			return nil, portError(ctx, "read $all", err)
		}
		for _, e := range page {
			p := toPosition(e.Position)
			if !from.IsZero() && (dir == esdbclient.Forwards && !p.After(from) || dir == esdbclient.Backwards && !p.Before(from)) {
				continue
			}
			from = p
			if isSystem(e) || len(out) == opts.Count {
				continue
			}
			out = append(out, toRecorded(e))
		}
		if len(page) < ask {
			break
		}
	}
	return out, nil
}
